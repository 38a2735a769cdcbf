package io.javakata.shim.rootfs;

import io.javakata.sys.ErrnoException;
import io.javakata.sys.Mounts;
import io.javakata.ttrpc.Errors;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * Host-side mounts of the shim: container root filesystems and the sandbox's shared directory.
 * Every method blocks on mount(2)/umount2(2) only; thread-safe (no state).
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
     * Mounts a container's rootfs at {@code target} (an existing directory). containerd's
     * snapshotters hand one mount (§6.4); more than one is refused as INVALID_ARGUMENT.
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
            flags |= Mounts.MS_BIND;
        }
        String fstype = mount.isBind() ? null : mount.type();
        Mounts.mount(mount.source(), target.toString(), fstype, flags, data.isEmpty() ? null : String.join(",", data));
        // A bind ignores MS_RDONLY on the first call: read-only takes a remount (mount(2), "MS_BIND").
        if (mount.isBind() && (flags & Mounts.MS_RDONLY) != 0) {
            try {
                Mounts.mount(null, target.toString(), null,
                        Mounts.MS_REMOUNT | Mounts.MS_BIND | Mounts.MS_RDONLY, null);
            } catch (ErrnoException e) {
                unmount(target);
                throw e;
            }
        }
    }

    /**
     * Makes {@code dir} a bind mount of itself with shared propagation, so mounts added below it
     * later (container rootfs) also appear in virtiofsd's mount namespace, which is a slave copy.
     * The bind is made private first: a bind of a directory on a shared mount (systemd makes / shared)
     * would join the host's peer group, and every rootfs mount would then appear twice.
     */
    public static void makeSharedBind(Path dir) throws IOException {
        Mounts.mount(dir.toString(), dir.toString(), null, Mounts.MS_BIND, null);
        try {
            Mounts.mount(null, dir.toString(), null, Mounts.MS_PRIVATE, null);
            Mounts.mount(null, dir.toString(), null, Mounts.MS_SHARED, null);
        } catch (ErrnoException e) {
            unmount(dir);
            throw e;
        }
    }

    /**
     * Unmounts every mount stacked at {@code target}; nothing if it is not a mount point.
     * Falls back to a lazy (MNT_DETACH) unmount if the target is busy.
     */
    public static void unmount(Path target) throws IOException {
        for (int layer = 0; layer < 16 && Mounts.isMountPoint(target); layer++) {
            try {
                Mounts.unmount(target.toString(), 0);
            } catch (ErrnoException e) {
                Mounts.unmount(target.toString(), Mounts.MNT_DETACH);
            }
        }
    }

    /**
     * Unmounts every mount at or below {@code dir}, deepest first (from /proc/self/mountinfo), so a
     * directory holding volume binds and their submounts can be removed. Lazy unmount when busy.
     */
    public static void unmountUnder(Path dir) throws IOException {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        String root = dir.toRealPath().toString();
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

    /**
     * Deletes a directory tree, refusing (IOException) to enter a mount point: a forgotten rootfs
     * mount must never turn into deleting an image's files.
     */
    public static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        Files.walkFileTree(dir, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path d, BasicFileAttributes attrs) throws IOException {
                if (Mounts.isMountPoint(d)) {
                    throw new IOException("refusing to delete " + dir + ": " + d + " is still a mount point");
                }
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.delete(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
                if (e != null) {
                    throw e;
                }
                Files.delete(d);
                return FileVisitResult.CONTINUE;
            }
        });
    }
}
