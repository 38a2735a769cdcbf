package io.javakata.sys;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.HashSet;
import java.util.Set;

/**
 * mount(2), umount2(2), a mount-point test, and deleting a tree that stops at mount points. Thread-safe; each call
 * but {@link #deleteTree} is one blocking system call.
 */
public final class Mounts {

    public static final long MS_RDONLY = 1;
    public static final long MS_NOSUID = 2;
    public static final long MS_NODEV = 4;
    public static final long MS_NOEXEC = 8;
    public static final long MS_REMOUNT = 32;
    public static final long MS_BIND = 4096;
    public static final long MS_MOVE = 8192;
    public static final long MS_REC = 16384;
    public static final long MS_PRIVATE = 1L << 18;
    public static final long MS_SLAVE = 1L << 19;
    public static final long MS_SHARED = 1L << 20;
    /** umount2 flag: detach now, clean up when the mount is no longer busy. */
    public static final int MNT_DETACH = 2;

    private static final Path MOUNTINFO = Path.of("/proc/self/mountinfo");

    private Mounts() {
    }

    /** mount(2). {@code source}, {@code fstype} and {@code data} may be null. */
    public static void mount(String source, String target, String fstype, long flags, String data)
            throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = LibC.callState(arena);
            int result = (int) LibC.MOUNT.invokeExact(state, LibC.cString(arena, source),
                    LibC.cString(arena, target), LibC.cString(arena, fstype), flags, LibC.cString(arena, data));
            LibC.check("mount(" + (source == null ? fstype : source) + " -> " + target + ")", result, state);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw LibC.propagate(t);
        }
    }

    /** umount2(2); {@code flags} 0 or {@link #MNT_DETACH}. */
    public static void unmount(String target, int flags) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = LibC.callState(arena);
            int result = (int) LibC.UMOUNT2.invokeExact(state, LibC.cString(arena, target), flags);
            LibC.check("umount2(" + target + ", " + flags + ")", result, state);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw LibC.propagate(t);
        }
    }

    /**
     * Whether {@code path} is the mount point of some mount in this process's mount namespace, read from
     * {@code /proc/self/mountinfo} (field 5, with the kernel's octal escapes for space, tab, newline and
     * backslash decoded). The path is resolved to its real path first; a missing path is no mount point.
     */
    public static boolean isMountPoint(Path path) throws IOException {
        if (!Files.exists(path)) {
            return false;
        }
        String wanted = path.toRealPath().toString();
        for (String line : Files.readAllLines(MOUNTINFO, StandardCharsets.UTF_8)) {
            String[] fields = line.split(" ");
            if (fields.length > 4 && unescape(fields[4]).equals(wanted)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Deletes {@code dir} and everything under it, never through a symbolic link (a link is removed, not followed)
     * and never into a mount point: a mount left inside (a container's root filesystem, a volume's bind) fails the
     * call with an IOException naming it, before anything under it is touched, so that a forgotten mount can never
     * turn into deleting what it shows. Files and directories beside it may already be gone then. A missing
     * {@code dir} is nothing to do. The mount points are read from {@code /proc/self/mountinfo} once.
     */
    public static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        Set<String> mountPoints = new HashSet<>();
        for (String line : Files.readAllLines(MOUNTINFO, StandardCharsets.UTF_8)) {
            String[] fields = line.split(" ");
            if (fields.length > 4) {
                mountPoints.add(unescape(fields[4]));
            }
        }
        Files.walkFileTree(dir, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path d, BasicFileAttributes attrs) throws IOException {
                if (mountPoints.contains(d.toRealPath().toString())) {
                    throw new IOException("refusing to delete " + dir + ": " + d + " is still a mount point");
                }
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.deleteIfExists(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
                if (e != null) {
                    throw e;
                }
                Files.deleteIfExists(d);
                return FileVisitResult.CONTINUE;
            }
        });
    }

    /** Decodes mountinfo's {@code \ooo} escapes (proc(5): "\040" is a space). */
    static String unescape(String field) {
        if (field.indexOf('\\') < 0) {
            return field;
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(field.length());
        byte[] bytes = field.getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < bytes.length; i++) {
            if (bytes[i] == '\\' && i + 3 < bytes.length && isOctal(bytes[i + 1]) && isOctal(bytes[i + 2])
                    && isOctal(bytes[i + 3])) {
                out.write((bytes[i + 1] - '0') * 64 + (bytes[i + 2] - '0') * 8 + (bytes[i + 3] - '0'));
                i += 3;
            } else {
                out.write(bytes[i]);
            }
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    private static boolean isOctal(byte b) {
        return b >= '0' && b <= '7';
    }
}
