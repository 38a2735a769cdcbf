package io.javakata.shim.volume;

import io.javakata.sys.Mounts;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javakata.shim.rootfs.Mounter;
import io.javakata.sys.MountFds;
import io.javakata.ttrpc.Errors;
import io.javakata.ttrpc.RuntimeStatusException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The host side of a container's volumes (containerd {@code pkg/cri/server/container_create_linux.go} adds the CRI
 * ones): every bind mount of the spec whose source is a host path (hostPath, emptyDir, /etc/hosts, /etc/resolv.conf,
 * /etc/hostname, termination-log, ConfigMaps, Secrets) is bound under {@code <container dir>/mounts/<n>}, which lies
 * inside the pod's shared directory and so reaches the guest through virtiofs. The bind is read-only when the spec
 * mount is (made read-only before it is attached, so virtiofsd's copy is read-only too), so a write through virtiofsd
 * fails with EROFS. The mount the guest gets keeps the spec's destination and options and takes the guest path of
 * that bind as its source.
 *
 * <p>{@code /dev/shm} is not shared with the host: it becomes a tmpfs in the guest. The containers of
 * a CRI pod all bind the guest's own {@code /dev/shm}, a tmpfs in the guest's root mount namespace
 * (one VM holds one pod, so it is the pod's shm), and so share it as they share CRI's sandbox shm
 * under runc; the pod's sandbox container resizes it to the size of CRI's host tmpfs through a
 * {@code createRuntime} hook, which runc runs in the guest's root namespaces. (A bind of the sandbox
 * container's {@code /proc/<pid>/root/dev/shm} is refused by mount(2) with EINVAL: its source lies
 * in another mount namespace.) A container outside a pod gets a tmpfs of its own, of the host's
 * size.
 *
 * <p>{@link #expose} either exposes every mount or, failing, undoes what it did. {@link #close()}
 * and {@link #release(Path)} unmount and remove everything below {@code mounts/}. Instances are not
 * thread-safe; the container that owns one serialises its create and delete.
 */
public final class SharedMounts implements AutoCloseable {

    /** The directory below a container's directory that holds its volume binds. */
    public static final String MOUNTS_DIR = "mounts";
    static final String SHM = "/dev/shm";
    /** The guest's busybox, whose mount applet resizes the guest's /dev/shm. */
    static final String GUEST_BUSYBOX = "/bin/busybox";
    /** How long the guest's runc lets the shm-resizing hook run. */
    static final int HOOK_TIMEOUT_SECONDS = 10;

    /** How a container gets its /dev/shm in the guest. */
    public enum Shm {
        /** A tmpfs of its own (a container outside a CRI pod). */
        OWN,
        /** The guest's /dev/shm, shared by the pod (a CRI app container). */
        POD,
        /** The guest's /dev/shm, resized to CRI's size (the CRI pod's sandbox container). */
        POD_SANDBOX
    }
    /** CRI's default sandbox shm size (pkg/cri/server: defaultShmSize), used if the host size is unknown. */
    static final long DEFAULT_SHM_BYTES = 64L * 1024 * 1024;

    private static final System.Logger LOG = System.getLogger(SharedMounts.class.getName());

    private final Path mountsDir;
    private final Map<Integer, ObjectNode> guestMounts;
    private final List<ObjectNode> createRuntimeHooks;

    private SharedMounts(Path mountsDir, Map<Integer, ObjectNode> guestMounts, List<ObjectNode> createRuntimeHooks) {
        this.mountsDir = mountsDir;
        this.guestMounts = Collections.unmodifiableMap(guestMounts);
        this.createRuntimeHooks = Collections.unmodifiableList(createRuntimeHooks);
    }

    /**
     * Exposes the host mounts of {@code spec} below {@code containerDir/mounts}.
     *
     * @param spec              the container's OCI spec as containerd wrote it (not changed)
     * @param containerDir      the container's directory in the shared directory on the host
     * @param guestContainerDir the same directory as the guest sees it
     * @param shm               how the container gets its /dev/shm
     * @throws RuntimeStatusException INVALID_ARGUMENT naming the mount if a source is missing or
     *                                not a directory, file or device; the error of mount(2) otherwise
     */
    public static SharedMounts expose(ObjectNode spec, Path containerDir, String guestContainerDir,
                                      Shm shm) {
        Path mountsDir = containerDir.resolve(MOUNTS_DIR);
        Map<Integer, ObjectNode> guest = new LinkedHashMap<>();
        List<ObjectNode> hooks = new ArrayList<>();
        SharedMounts exposed = new SharedMounts(mountsDir, guest, hooks);
        JsonNode mounts = spec.path("mounts");
        try {
            for (int i = 0; i < mounts.size(); i++) {
                JsonNode mount = mounts.get(i);
                if (!(mount instanceof ObjectNode object) || !isHostBind(object)) {
                    continue;
                }
                if (SHM.equals(object.path("destination").asText())) {
                    long bytes = shmBytes(Path.of(object.path("source").asText()));
                    guest.put(i, shmMount(object, shm, bytes));
                    if (shm == Shm.POD_SANDBOX) {
                        hooks.add(resizeShmHook(bytes));
                    }
                    continue;
                }
                Path target = bindOne(object, i, mountsDir);
                ObjectNode rewritten = object.deepCopy();
                rewritten.put("source", guestContainerDir + "/" + MOUNTS_DIR + "/" + target.getFileName());
                guest.put(i, rewritten);
            }
            return exposed;
        } catch (IOException e) {
            exposed.close();
            throw Errors.unknown(e, "share volumes");
        } catch (RuntimeException e) {
            exposed.close();
            throw e;
        }
    }

    /** The guest mounts that replace the spec's, by index in the spec's {@code mounts} array. */
    public Map<Integer, ObjectNode> guestMounts() {
        return guestMounts;
    }

    /**
     * Hooks the guest spec must run at {@code createRuntime}, in the guest's root namespaces
     * (resizing the pod's /dev/shm); empty for most containers.
     */
    public List<ObjectNode> createRuntimeHooks() {
        return createRuntimeHooks;
    }

    /** Unmounts and removes every bind of this container; failures are logged (the caller cleans up). */
    @Override
    public void close() {
        try {
            release(mountsDir.getParent());
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "release volumes in " + mountsDir + ": " + e.getMessage());
        }
    }

    /**
     * Unmounts every volume bind below {@code containerDir/mounts} and removes that directory.
     * Safe to call when nothing was exposed; refuses (IOException) to delete through a mount that
     * stays mounted.
     */
    public static void release(Path containerDir) throws IOException {
        Path mountsDir = containerDir.resolve(MOUNTS_DIR);
        if (!Files.isDirectory(mountsDir, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        Mounter.unmountUnder(mountsDir);
        Mounts.deleteTree(mountsDir);
    }

    /**
     * True for a bind mount ({@code type: bind}, or {@code bind}/{@code rbind} in its options, as
     * containerd's mount code decides) whose source is an absolute host path.
     */
    static boolean isHostBind(ObjectNode mount) {
        String source = mount.path("source").asText("");
        if (!source.startsWith("/")) {
            return false;
        }
        if ("bind".equals(mount.path("type").asText(""))) {
            return true;
        }
        for (JsonNode option : mount.path("options")) {
            String o = option.asText();
            if (o.equals("bind") || o.equals("rbind")) {
                return true;
            }
        }
        return false;
    }

    static List<String> options(ObjectNode mount) {
        List<String> options = new ArrayList<>();
        mount.path("options").forEach(o -> options.add(o.asText()));
        return options;
    }

    /**
     * Binds one source at {@code mounts/<index>}: a directory for a directory, an empty file for
     * anything else (the bind covers it), recursive for rbind, then made private (runc's default
     * propagation) and remounted read-only if asked.
     */
    private static Path bindOne(ObjectNode mount, int index, Path mountsDir) throws IOException {
        String source = mount.path("source").asText();
        String destination = mount.path("destination").asText();
        Path sourcePath = Path.of(source);
        if (!Files.exists(sourcePath)) {
            throw Errors.invalidArgument("mount %d (destination %s): source %s does not exist on the host", index,
                    destination, source);
        }
        List<String> options = options(mount);
        Files.createDirectories(mountsDir);
        Path target = mountsDir.resolve(Integer.toString(index));
        if (Files.isDirectory(sourcePath)) {
            Files.createDirectory(target);
        } else {
            Files.createFile(target);
        }
        // nosuid and nodev: virtiofsd serves the guest through this bind, and nothing it opens here may
        // be a device of the host or gain privileges.
        long attributes = MountFds.MOUNT_ATTR_NOSUID | MountFds.MOUNT_ATTR_NODEV
                | (options.contains("ro") ? MountFds.MOUNT_ATTR_RDONLY : 0);
        try {
            Mounter.bind(sourcePath, options.contains("rbind"), attributes, target);
        } catch (IOException e) {
            throw new IOException("bind " + source + " at " + target + ": " + e.getMessage(), e);
        }
        return target;
    }

    /** The container's /dev/shm in the guest: a bind of the guest's (a pod's), or a tmpfs of {@code bytes}. */
    private static ObjectNode shmMount(ObjectNode mount, Shm mode, long bytes) {
        ObjectNode shm = JsonNodeFactory.instance.objectNode();
        shm.put("destination", SHM);
        ArrayNode options = shm.putArray("options");
        if (mode != Shm.OWN) {
            shm.put("type", "bind");
            shm.put("source", SHM);
            options.add("rbind");
            options.add(options(mount).contains("ro") ? "ro" : "rw");
            return shm;
        }
        shm.put("type", "tmpfs");
        shm.put("source", "shm");
        for (String o : List.of("nosuid", "noexec", "nodev", "mode=1777")) {
            options.add(o);
        }
        options.add("size=" + bytes);
        return shm;
    }

    /**
     * An OCI hook remounting the guest's /dev/shm with {@code size=bytes} (busybox mount), which runc kills after
     * {@link #HOOK_TIMEOUT_SECONDS}, failing the create (runtime-spec {@code config.md}, "POSIX-platform Hooks";
     * runc {@code libcontainer/configs/config.go}): a remount that hangs must not hold runc create until the agent's
     * own timeout.
     */
    static ObjectNode resizeShmHook(long bytes) {
        ObjectNode hook = JsonNodeFactory.instance.objectNode();
        hook.put("path", GUEST_BUSYBOX);
        ArrayNode args = hook.putArray("args");
        for (String a : List.of("mount", "-o", "remount,size=" + bytes, SHM)) {
            args.add(a);
        }
        hook.put("timeout", HOOK_TIMEOUT_SECONDS);
        return hook;
    }

    /** The size of the host filesystem at {@code source} (CRI's shm tmpfs), or CRI's default. */
    static long shmBytes(Path source) {
        try {
            long total = Files.getFileStore(source).getTotalSpace();
            return total > 0 ? total : DEFAULT_SHM_BYTES;
        } catch (IOException e) {
            return DEFAULT_SHM_BYTES;
        }
    }
}
