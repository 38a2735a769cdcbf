package io.javakata.shim.container;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javakata.shim.volume.SharedMounts;
import io.javakata.ttrpc.Errors;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;

/**
 * Rewrites a bundle's OCI config.json for the guest. Lenient about the spec (we touch only what we
 * must and keep every other field as it came, known to us or not):
 * <ul>
 *   <li>{@code root.path} becomes the rootfs as the guest sees it under the virtiofs share;</li>
 *   <li>host namespace paths (CRI's, containerd {@code pkg/cri/opts/spec_linux.go}) mean nothing in the guest.
 *       A {@code network}, {@code ipc}, {@code uts} or {@code pid} entry with a path joins the same namespace of the
 *       pod's sandbox container in the guest ({@code /proc/<guest pid>/ns/<type>}) when the pod has
 *       one, so the containers of a pod share them as under runc; any other path (the sandbox
 *       container's own /var/run/netns/cni-…, or a container without a pod) is removed and the guest
 *       makes a fresh namespace. The sandbox container thus owns the pod's network namespace in the
 *       guest, into which the agent moves the pod's NIC (never the guest's root namespace, where runc
 *       refuses network sysctls);</li>
 *   <li>mounts are replaced by index as the host side exposed them (volumes through the shared
 *       directory, /dev/shm as a guest tmpfs: {@code io.javakata.shim.volume.SharedMounts});</li>
 *   <li>{@code hooks} are dropped: they name host binaries; the shim's own guest hooks replace them.</li>
 * </ul>
 */
public final class GuestSpec {

    /** CRI's annotation saying whether a task is a pod's sandbox ("sandbox") or one of its containers. */
    public static final String CONTAINER_TYPE = "io.kubernetes.cri.container-type";
    /** CRI's name of the container (the pod spec's container name). */
    public static final String CONTAINER_NAME = "io.kubernetes.cri.container-name";

    private static final ObjectMapper JSON = new ObjectMapper();
    /** Namespaces a container joins from its pod's sandbox container: OCI type to /proc/[pid]/ns name. */
    private static final Map<String, String> POD_SHARED = Map.of("network", "net", "ipc", "ipc", "uts", "uts",
            "pid", "pid");

    /** What a missing namespace entry asks for, in the words of the pod spec where there are some. */
    private static final Map<String, String> HOST_SETTING = Map.of(
            "pid", "the pod asks for the host's PID namespace (hostPID)",
            "ipc", "the pod asks for the host's IPC namespace (hostIPC)",
            "mount", "the container would share the runtime's mount namespace");

    private GuestSpec() {
    }

    /** Reads {@code <bundle>/config.json} as a tree; INVALID_ARGUMENT if it is not a JSON object. */
    public static ObjectNode read(Path bundle) {
        Path file = bundle.resolve("config.json");
        try {
            JsonNode tree = JSON.readTree(file.toFile());
            if (tree instanceof ObjectNode object) {
                return object;
            }
            throw Errors.invalidArgument("%s: must hold a JSON object (an OCI runtime spec)", file);
        } catch (IOException e) {
            throw Errors.invalidArgument("read %s: %s", file, e.getMessage());
        }
    }

    /** Same as {@code rewrite(spec, guestRootPath, Map.of(), List.of(), OptionalInt.empty())}: no pod, no volumes. */
    public static ObjectNode rewrite(ObjectNode spec, String guestRootPath) {
        return rewrite(spec, guestRootPath, Map.of(), List.of(), OptionalInt.empty());
    }

    /**
     * Returns a rewritten copy of {@code spec}; the input is left unchanged.
     *
     * @param guestRootPath the rootfs as the guest sees it
     * @param guestMounts   replacements for entries of {@code mounts}, by index
     * @param guestHooks    {@code createRuntime} hooks to run in the guest (the spec's own hooks,
     *                      host binaries, are dropped)
     * @param podPid        the guest pid of the pod's sandbox container, whose network, ipc, uts and
     *                      pid namespaces a container of the pod joins; empty for the sandbox container
     *                      itself or a container without a pod
     */
    public static ObjectNode rewrite(ObjectNode spec, String guestRootPath, Map<Integer, ObjectNode> guestMounts,
                                     List<ObjectNode> guestHooks, OptionalInt podPid) {
        ObjectNode guest = spec.deepCopy();
        JsonNode root = guest.get("root");
        ObjectNode rootObject = root instanceof ObjectNode object ? object : guest.putObject("root");
        rootObject.put("path", guestRootPath);
        guest.remove("hooks");
        if (!guestHooks.isEmpty()) {
            ArrayNode createRuntime = guest.putObject("hooks").putArray("createRuntime");
            guestHooks.forEach(hook -> createRuntime.add(hook.deepCopy()));
        }
        if (guest.path("linux").path("namespaces") instanceof ArrayNode namespaces) {
            rewriteNamespaces(namespaces, podPid);
        }
        if (!guestMounts.isEmpty() && guest.path("mounts") instanceof ArrayNode mounts) {
            guestMounts.forEach((index, mount) -> {
                if (index >= 0 && index < mounts.size()) {
                    mounts.set(index, mount.deepCopy());
                }
            });
        }
        return guest;
    }

    private static void rewriteNamespaces(ArrayNode namespaces, OptionalInt podPid) {
        for (Iterator<JsonNode> it = namespaces.elements(); it.hasNext(); ) {
            if (!(it.next() instanceof ObjectNode namespace) || !namespace.hasNonNull("path")) {
                continue;
            }
            String type = namespace.path("type").asText("");
            if (POD_SHARED.containsKey(type) && podPid.isPresent()) {
                namespace.put("path", "/proc/" + podPid.getAsInt() + "/ns/" + POD_SHARED.get(type));
            } else {
                namespace.remove("path");
            }
        }
    }

    /**
     * Refuses a spec that would put the container in one of the guest's own namespaces, where the agent runs
     * as PID 1: an OCI spec without a {@code pid}, {@code ipc} or {@code mount} entry in
     * {@code linux.namespaces} shares the runtime's, and runc in the guest runs in the guest's root namespaces.
     * CRI leaves {@code pid} out for hostPID and {@code ipc} for hostIPC (containerd's sandbox_run_linux.go,
     * containerd {@code pkg/cri/server/container_create_linux.go}); the host's namespaces cannot reach into a VM,
     * and the guest's would let a container see, signal and {@code nsenter} the agent. (No {@code network} entry,
     * hostNetwork, is refused by
     * {@code io.javakata.shim.network.PodNetwork#netnsOf} with the pod network.)
     *
     * @throws io.javakata.ttrpc.RuntimeStatusException INVALID_ARGUMENT naming the namespace and the pod
     *                                                  setting behind it
     */
    public static void refuseHostNamespaces(ObjectNode spec) {
        Set<String> types = new HashSet<>();
        for (JsonNode namespace : spec.path("linux").path("namespaces")) {
            types.add(namespace.path("type").asText(""));
        }
        for (String type : List.of("pid", "ipc", "mount")) {
            if (!types.contains(type)) {
                throw Errors.invalidArgument("linux.namespaces has no %s namespace: %s; javakata runs every "
                        + "container in namespaces of its own inside the pod VM, because the VM cannot share the "
                        + "host's and the guest's own hold the javakata agent; run such pods with runc",
                        type, HOST_SETTING.get(type));
            }
        }
    }

    public static byte[] toBytes(ObjectNode spec) {
        try {
            return JSON.writeValueAsBytes(spec);
        } catch (IOException e) {
            throw Errors.internal("serialise the guest spec: %s", e.getMessage());
        }
    }

    /** The spec's annotations with text values (others are skipped); empty if it has none. */
    public static Map<String, String> annotations(ObjectNode spec) {
        Map<String, String> annotations = new LinkedHashMap<>();
        spec.path("annotations").properties().forEach(e -> {
            if (e.getValue().isTextual()) {
                annotations.put(e.getKey(), e.getValue().asText());
            }
        });
        return annotations;
    }

    /** How the container gets /dev/shm: from its CRI container type (a pod's sandbox, a pod's container, or none). */
    public static SharedMounts.Shm shmMode(ObjectNode spec) {
        return switch (annotation(spec, CONTAINER_TYPE)) {
            case "sandbox" -> SharedMounts.Shm.POD_SANDBOX;
            case "container" -> SharedMounts.Shm.POD;
            default -> SharedMounts.Shm.OWN;
        };
    }

    /** An annotation's value, or "" if the spec has none. */
    public static String annotation(ObjectNode spec, String key) {
        return spec.path("annotations").path(key).asText("");
    }
}
