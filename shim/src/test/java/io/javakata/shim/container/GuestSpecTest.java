package io.javakata.shim.container;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javakata.shim.rootfs.Mounter;
import io.javakata.shim.volume.SharedMounts;
import io.javakata.sys.Mounts;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalInt;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(value = 10, unit = TimeUnit.SECONDS)
class GuestSpecTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path bundle;

    @Test
    void rewritesACriContainerSpecForTheGuest() throws IOException {
        Files.writeString(bundle.resolve("config.json"), resource("cri-container-config.json"));
        ObjectNode spec = GuestSpec.read(bundle);

        ObjectNode guest = GuestSpec.rewrite(spec, "/run/javakata/shared/c1/rootfs");

        String expected = resource("cri-container-config.guest.json");
        assertEquals(JSON.readTree(expected).toPrettyString(), guest.toPrettyString());
        assertTrue(spec.has("hooks"), "the input tree is left unchanged");
        assertEquals("c1-sandbox", GuestSpec.annotation(spec, "io.kubernetes.cri.sandbox-id"));
    }

    @Test
    void specWithoutRootGetsOne() {
        ObjectNode guest = GuestSpec.rewrite(JSON.createObjectNode(), "/run/javakata/shared/x/rootfs");
        assertEquals("/run/javakata/shared/x/rootfs", guest.path("root").path("path").asText());
    }

    @Test
    void unreadableSpecIsInvalidArgumentNamingTheFile() throws IOException {
        Files.writeString(bundle.resolve("config.json"), "[1, 2]");
        RuntimeStatusException e = assertThrows(RuntimeStatusException.class, () -> GuestSpec.read(bundle));
        assertEquals(Code.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("config.json"), e.getMessage());
    }

    /**
     * Real specs, as containerd 1.6.20's CRI wrote them for a pod (RunPodSandbox) and its container
     * (CreateContainer with two hostPath directories and two hostPath files, read-only and
     * read-write): their host sources are recreated under a temporary directory (CRI's sandbox shm
     * as a 64 MiB tmpfs), shared for real, and the guest spec is compared with the golden file.
     */
    @Test
    void criSandboxSpecGetsItsOwnGuestNetnsWithThePodShmResized() throws IOException {
        ObjectNode guest = guestSpecOfRealCriSpec("cri-sandbox-spec.json", OptionalInt.empty());
        assertGolden("cri-sandbox-spec.guest.json", guest);
        assertEquals(5, guest.path("linux").path("namespaces").size());
        assertEquals("network", guest.path("linux").path("namespaces").get(4).path("type").asText());
        assertTrue(guest.path("linux").path("namespaces").get(4).path("path").isMissingNode(),
                "the sandbox container gets a fresh netns in the guest, not the host's cni-… path");
    }

    @Test
    void criContainerSpecJoinsThePodAndGetsItsVolumesThroughTheSharedDir() throws IOException {
        ObjectNode guest = guestSpecOfRealCriSpec("cri-app-spec.json", OptionalInt.of(173));
        assertGolden("cri-app-spec.guest.json", guest);
        assertEquals("/proc/173/ns/ipc", guest.path("linux").path("namespaces").get(1).path("path").asText());
        assertEquals("/proc/173/ns/net", guest.path("linux").path("namespaces").get(4).path("path").asText(),
                "app containers join the sandbox container's netns in the guest");
    }

    private ObjectNode guestSpecOfRealCriSpec(String name, OptionalInt podPid) throws IOException {
        ObjectNode spec = (ObjectNode) JSON.readTree(resource(name));
        Path hostRoot = Files.createDirectories(bundle.resolve("host"));
        for (JsonNode mount : spec.path("mounts")) {
            String source = mount.path("source").asText();
            if (!source.startsWith("/") || !mount.path("type").asText().equals("bind")) {
                continue;
            }
            Path local = hostRoot.resolve(source.substring(1));
            if (mount.path("destination").asText().equals("/dev/shm")) {
                Files.createDirectories(local);
                if (!Mounts.isMountPoint(local)) {
                    Mounts.mount("shm", local.toString(), "tmpfs", 0, "size=64m");
                }
            } else if (mount.path("destination").asText().startsWith("/vol")) {
                Files.createDirectories(local);
            } else {
                Files.createDirectories(local.getParent());
                Files.writeString(local, "content of " + source);
            }
            ((ObjectNode) mount).put("source", local.toString());
        }
        String id = spec.path("annotations").path("io.kubernetes.cri.container-type").asText().equals("sandbox")
                ? "a5d0a6dd1f62" : "dfb6d81b6731";
        Path containerDir = Files.createDirectories(bundle.resolve("shared").resolve(id));
        try (SharedMounts volumes = SharedMounts.expose(spec, containerDir, "/run/javakata/shared/" + id,
                GuestSpec.shmMode(spec))) {
            return GuestSpec.rewrite(spec, "/run/javakata/shared/" + id + "/rootfs", volumes.guestMounts(),
                    volumes.createRuntimeHooks(), podPid);
        } finally {
            Mounter.unmountUnder(bundle);
        }
    }

    /** Compares with a golden file; the actual tree is also written under java.io.tmpdir for review. */
    private static void assertGolden(String golden, ObjectNode actual) throws IOException {
        Path out = Path.of(System.getProperty("java.io.tmpdir"), "javakata-golden-actual", golden);
        Files.createDirectories(out.getParent());
        Files.writeString(out, actual.toPrettyString());
        assertEquals(JSON.readTree(resource(golden)).toPrettyString(), actual.toPrettyString(), "actual in " + out);
    }

    private static String resource(String name) throws IOException {
        try (InputStream in = GuestSpecTest.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IOException("test resource " + name + " is missing");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static ObjectNode specWithNamespaces(String... types) {
        ObjectNode spec = JSON.createObjectNode();
        var namespaces = spec.putObject("linux").putArray("namespaces");
        for (String type : types) {
            namespaces.addObject().put("type", type);
        }
        return spec;
    }

    @Test
    void aSpecWithItsOwnPidIpcAndMountNamespacesPasses() {
        GuestSpec.refuseHostNamespaces(specWithNamespaces("pid", "ipc", "uts", "mount", "network"));
    }

    @Test
    void hostPidHostIpcAndNoMountNamespaceAreRefusedByName() {
        var pid = assertThrows(RuntimeStatusException.class,
                () -> GuestSpec.refuseHostNamespaces(specWithNamespaces("ipc", "uts", "mount", "network")));
        assertEquals(Code.INVALID_ARGUMENT, pid.code());
        assertTrue(pid.getMessage().contains("linux.namespaces has no pid namespace: the pod asks for the host's PID "
                + "namespace (hostPID)"), pid.getMessage());
        var ipc = assertThrows(RuntimeStatusException.class,
                () -> GuestSpec.refuseHostNamespaces(specWithNamespaces("pid", "uts", "mount", "network")));
        assertTrue(ipc.getMessage().contains("no ipc namespace: the pod asks for the host's IPC namespace (hostIPC)"),
                ipc.getMessage());
        var mount = assertThrows(RuntimeStatusException.class,
                () -> GuestSpec.refuseHostNamespaces(specWithNamespaces("pid", "ipc", "network")));
        assertTrue(mount.getMessage().contains("no mount namespace"), mount.getMessage());
    }
}
