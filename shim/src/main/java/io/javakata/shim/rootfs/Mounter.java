package io.javakata.shim.rootfs;

import io.javakata.sys.ErrnoException;
import io.javakata.sys.MountFds;
import io.javakata.sys.Mounts;
import io.javakata.ttrpc.Errors;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * Host-side mounts of the shim: container root filesystems, volume binds and the sandbox's shared
 * directory. Targets are opened as descriptors and never resolved through a symlink; every path given
 * here lies in a tree only the host writes to (a sandbox's {@code mounts/}, never the guest-visible
 * share). Every method blocks on mount system calls only; thread-safe (no state).
 */
public final class Mounter {

    /** mount(8) flag options; everything else goes to the filesystem as data. */
    private static final Map<String, Long> SET_FLAGS = Map.of(
            "ro", Mounts.MS_RDONLY, "nosuid", Mounts.MS_NOSUID, "nodev", Mounts.MS_NODEV,
            "noexec", Mounts.MS_NOEXEC, "bind", Mounts.MS_BIND, "rbind", Mounts.MS_BIND | Mounts.MS_REC);
    private static final List<String> NO_OP_FLAGS = List.of("rw", "suid", "dev", "exec", "defaults");

    private Mounter() {
    }

    /**
     * Mounts a container's rootfs at {@code target} (an existing, empty directory that only the host can
     * write to). containerd's snapshotters hand one mount (containerd {@code snapshots/overlay/overlay.go},
     * {@code mounts}); more than one is refused as INVALID_ARGUMENT. The target is opened as a descriptor (no
     * symlink followed) and mounted on through {@code /proc/self/fd/N}; a bind is made detached and gets its
     * flags before it is attached ({@link #bind}).
     */
    public static void mountRootfs(List<RootfsMount> mounts, Path target) throws IOException {
        if (mounts.size() != 1) {
            throw Errors.invalidArgument("rootfs has %d mounts: javakata takes exactly one (an overlay or a bind)",
                    mounts.size());
        }
        RootfsMount mount = mounts.getFirst();
        long flags = 0;
        List<String> data = new ArrayList<>();
        for (String option : mount.options()) {
            Long flag = SET_FLAGS.get(option);
            if (flag != null) {
                flags |= flag;
            } else if (!NO_OP_FLAGS.contains(option)) {
                data.add(option);
            }
        }
        if (mount.isBind()) {
            bind(Path.of(mount.source()), mount.options().contains("rbind"), attributes(flags), target);
            return;
        }
        try (MountFds.Fd dir = MountFds.openDirectory(target.getParent());
             MountFds.Fd at = MountFds.openBeneath(dir, target.getFileName().toString(), true)) {
            Mounts.mount(mount.source(), MountFds.procPath(at), mount.type(), flags,
                    data.isEmpty() ? null : String.join(",", data));
        }
    }

    /**
     * Binds {@code source} (a directory or a file of the host) at {@code target} (an existing directory
     * or file that only the host can write to), recursively if asked, with the {@code MOUNT_ATTR_*} bits
     * of {@code attributes} and private propagation (runc's default). The bind is made detached
     * (open_tree), gets its flags there and is attached last (move_mount): a read-only bind is never
     * writable anywhere, not even in a mount namespace it propagates to, such as virtiofsd's.
     */
    public static void bind(Path source, boolean recursive, long attributes, Path target) throws IOException {
        try (MountFds.Fd tree = MountFds.cloneTree(source, recursive);
             MountFds.Fd dir = MountFds.openDirectory(target.getParent());
             MountFds.Fd at = MountFds.openBeneath(dir, target.getFileName().toString(), false)) {
            MountFds.setAttributes(tree, attributes, Mounts.MS_PRIVATE, recursive);
            MountFds.moveMount(tree, at);
        }
    }

    /** The MOUNT_ATTR_* bits for mount(2)'s MS_RDONLY, MS_NOSUID, MS_NODEV and MS_NOEXEC in {@code flags}. */
    static long attributes(long flags) {
        long attributes = 0;
        attributes |= (flags & Mounts.MS_RDONLY) != 0 ? MountFds.MOUNT_ATTR_RDONLY : 0;
        attributes |= (flags & Mounts.MS_NOSUID) != 0 ? MountFds.MOUNT_ATTR_NOSUID : 0;
        attributes |= (flags & Mounts.MS_NODEV) != 0 ? MountFds.MOUNT_ATTR_NODEV : 0;
        attributes |= (flags & Mounts.MS_NOEXEC) != 0 ? MountFds.MOUNT_ATTR_NOEXEC : 0;
        return attributes;
    }

    /**
     * Sets up a sandbox's two directories, both existing and empty: {@code mounts}, where the host makes
     * every mount of the pod (container root filesystems, volume binds), becomes a bind of itself with
     * shared propagation; {@code shared}, which virtiofsd exports, becomes a read-only bind of
     * {@code mounts} that receives its mounts (a slave of it) and passes them on to virtiofsd's mount
     * namespace (shared itself). The guest so sees every container rootfs and read-write volume with its
     * own mount and writes only there: it can never rename, replace or add an entry of the tree the host
     * works in (Kata's fix of CVE-2020-28914: a private mounts/ dir and a read-only bind as the share).
     * The first bind is made private before it is made shared: a bind of a directory on a shared mount
     * (systemd makes / shared) would join the host's peer group, and every mount would appear twice.
     */
    public static void makeShare(Path mounts, Path shared) throws IOException {
        Mounts.mount(mounts.toString(), mounts.toString(), null, Mounts.MS_BIND, null);
        try {
            Mounts.mount(null, mounts.toString(), null, Mounts.MS_PRIVATE, null);
            Mounts.mount(null, mounts.toString(), null, Mounts.MS_SHARED, null);
            Mounts.mount(mounts.toString(), shared.toString(), null, Mounts.MS_BIND, null);
            try {
                Mounts.mount(null, shared.toString(), null, Mounts.MS_SLAVE, null);
                Mounts.mount(null, shared.toString(), null, Mounts.MS_SHARED, null);
                Mounts.mount(null, shared.toString(), null, Mounts.MS_REMOUNT | Mounts.MS_BIND | Mounts.MS_RDONLY
                        | Mounts.MS_NOSUID | Mounts.MS_NODEV, null);
            } catch (ErrnoException e) {
                unmount(shared);
                throw e;
            }
        } catch (ErrnoException e) {
            unmount(mounts);
            throw e;
        }
    }

    /**
     * Unmounts every mount stacked at {@code target}; nothing if it is not a mount point. Never follows a
     * symlink in the last component (UMOUNT_NOFOLLOW). Falls back to a lazy (MNT_DETACH) unmount if the
     * target is busy.
     */
    public static void unmount(Path target) throws IOException {
        for (int layer = 0; layer < 16 && Mounts.isMountPoint(target); layer++) {
            try {
                Mounts.unmount(target.toString(), MountFds.UMOUNT_NOFOLLOW);
            } catch (ErrnoException e) {
                Mounts.unmount(target.toString(), Mounts.MNT_DETACH | MountFds.UMOUNT_NOFOLLOW);
            }
        }
    }

    /**
     * Unmounts every mount at or below {@code dir}, deepest first (from /proc/self/mountinfo), so a
     * directory holding volume binds and their submounts can be removed. Lazy unmount when busy.
     * {@code dir} must lie in a tree only the host writes to: its parent is resolved to a real path (the
     * state directory may sit behind a symlink such as /var/run), its last component never is.
     */
    public static void unmountUnder(Path dir) throws IOException {
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        String root = dir.toAbsolutePath().getParent().toRealPath().resolve(dir.getFileName()).toString();
        List<String> targets = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"), StandardCharsets.UTF_8)) {
            String[] fields = line.split(" ");
            if (fields.length > 4) {
                String point = unescapeMountinfo(fields[4]);
                if (point.equals(root) || point.startsWith(root + "/")) {
                    targets.add(point);
                }
            }
        }
        targets.sort(Comparator.comparingInt(String::length).reversed());
        for (String target : targets) {
            unmount(Path.of(target));
        }
    }

    /** Decodes mountinfo's octal escapes (proc(5): "\\040" is a space). */
    static String unescapeMountinfo(String field) {
        if (field.indexOf('\\') < 0) {
            return field;
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] bytes = field.getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < bytes.length; i++) {
            if (bytes[i] == '\\' && i + 3 < bytes.length) {
                out.write(Integer.parseInt(new String(bytes, i + 1, 3, StandardCharsets.US_ASCII), 8));
                i += 3;
            } else {
                out.write(bytes[i]);
            }
        }
        return out.toString(StandardCharsets.UTF_8);
    }
}
