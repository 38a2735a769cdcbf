package io.javakata.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Mounting and opening from file descriptors, so that no host-side mount operation resolves a path
 * through a directory someone else can write to (the class of Kata's CVE-2020-2024/2026 and runc's
 * CVE-2021-30465). Three tools, as runc's {@code WithProcfd} and the new mount API give them:
 * <ul>
 *   <li>{@link #openBeneath}: openat2(2) with {@code RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 *       RESOLVE_NO_MAGICLINKS} (and {@code RESOLVE_NO_XDEV}), so a symlink or a ".." anywhere on the
 *       way fails with ELOOP/EXDEV instead of leading elsewhere;</li>
 *   <li>{@link #procPath}: {@code /proc/self/fd/N}, a mount(2) target that names exactly the directory
 *       the descriptor holds;</li>
 *   <li>{@link #cloneTree}, {@link #setAttributes}, {@link #moveMount}: open_tree(2) +
 *       mount_setattr(2) + move_mount(2), which make a bind mount detached, give it its flags
 *       (read-only, nosuid, nodev) and its propagation while no one else can see it, and only then
 *       attach it: a read-only bind is never visible read-write, not even in the mount namespaces it
 *       propagates to (a remount after the bind would not propagate).</li>
 * </ul>
 * Every call is one blocking system call; thread-safe. Descriptors are {@link Fd}s: close them.
 */
public final class MountFds {

    static final long RESOLVE_NO_XDEV = 0x01;
    static final long RESOLVE_NO_MAGICLINKS = 0x02;
    static final long RESOLVE_NO_SYMLINKS = 0x04;
    static final long RESOLVE_BENEATH = 0x08;
    static final int O_PATH = 010000000;
    static final int O_DIRECTORY = 0200000;
    static final int O_NOFOLLOW = 0400000;
    static final int AT_FDCWD = -100;
    static final int AT_EMPTY_PATH = 0x1000;
    static final int AT_RECURSIVE = 0x8000;
    static final int OPEN_TREE_CLONE = 1;
    static final int MOVE_MOUNT_F_EMPTY_PATH = 0x04;
    static final int MOVE_MOUNT_T_EMPTY_PATH = 0x40;
    /** mount_setattr(2) attributes, linux/mount.h. */
    public static final long MOUNT_ATTR_RDONLY = 0x1;
    public static final long MOUNT_ATTR_NOSUID = 0x2;
    public static final long MOUNT_ATTR_NODEV = 0x4;
    public static final long MOUNT_ATTR_NOEXEC = 0x8;
    /** umount2(2) flag: do not follow a symlink in the last component. */
    public static final int UMOUNT_NOFOLLOW = 8;

    private MountFds() {
    }

    /** A file descriptor this process owns; {@link #close()} releases it. */
    public record Fd(int value) implements AutoCloseable {
        @Override
        public void close() {
            Fds.close(value);
        }
    }

    /**
     * Opens the directory {@code path} as an {@code O_PATH} descriptor without following a symlink in
     * its last component. For directories the host alone controls (a sandbox's state directory).
     */
    public static Fd openDirectory(Path path) throws ErrnoException {
        return openat2(AT_FDCWD, path.toString(), O_PATH | O_DIRECTORY | O_NOFOLLOW | Fds.O_CLOEXEC, 0);
    }

    /**
     * Opens {@code relative} (no leading '/') below the directory {@code dir} as an {@code O_PATH}
     * descriptor, refusing symlinks, magic links, ".." out of {@code dir} and crossing into another mount
     * (ELOOP, EXDEV). {@code directory} additionally requires a directory (ENOTDIR).
     */
    public static Fd openBeneath(Fd dir, String relative, boolean directory) throws ErrnoException {
        int flags = O_PATH | O_NOFOLLOW | Fds.O_CLOEXEC | (directory ? O_DIRECTORY : 0);
        return openat2(dir.value(), relative,
                flags, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV);
    }

    /** The path that names exactly what {@code fd} holds, for system calls that take a path. */
    public static String procPath(Fd fd) {
        return "/proc/self/fd/" + fd.value();
    }

    /**
     * mkdirat(2): makes the directory {@code name} (one component, no '/') in {@code dir}; an existing
     * entry fails with EEXIST, so a planted symlink is never followed.
     */
    public static void mkdirIn(Fd dir, String name, int mode) throws ErrnoException {
        if (name.isEmpty() || name.contains("/") || name.equals(".") || name.equals("..")) {
            throw new IllegalArgumentException("not a single path component: '" + name + "'");
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = LibC.callState(arena);
            int result = (int) LibC.MKDIRAT.invokeExact(state, dir.value(), arena.allocateFrom(name), mode);
            LibC.check("mkdirat(" + name + ")", result, state);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw LibC.propagate(t);
        }
    }

    /**
     * open_tree(2) with {@code OPEN_TREE_CLONE}: a detached copy of the mount at {@code source} (a bind
     * mount nobody sees yet), with its submounts when {@code recursive}.
     */
    public static Fd cloneTree(Path source, boolean recursive) throws ErrnoException {
        long flags = OPEN_TREE_CLONE | Fds.O_CLOEXEC | (recursive ? AT_RECURSIVE : 0);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = LibC.callState(arena);
            long result = (long) LibC.SYSCALL_OPEN_TREE.invokeExact(state, LibC.SYS_OPEN_TREE, (long) AT_FDCWD,
                    arena.allocateFrom(source.toString()), flags);
            return new Fd((int) LibC.check("open_tree(" + source + ")", result, state));
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw LibC.propagate(t);
        }
    }

    /**
     * mount_setattr(2) on the mount {@code mount} (and its submounts when {@code recursive}): sets the
     * {@code MOUNT_ATTR_*} bits of {@code set} and the propagation type {@code propagation}
     * ({@link Mounts#MS_PRIVATE} etc., 0 to keep it).
     */
    public static void setAttributes(Fd mount, long set, long propagation, boolean recursive) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment attr = arena.allocate(Layouts.MOUNT_ATTR);
            attr.set(JAVA_LONG, Layouts.offset(Layouts.MOUNT_ATTR, "attr_set"), set);
            attr.set(JAVA_LONG, Layouts.offset(Layouts.MOUNT_ATTR, "propagation"), propagation);
            MemorySegment state = LibC.callState(arena);
            long result = (long) LibC.SYSCALL_MOUNT_SETATTR.invokeExact(state, LibC.SYS_MOUNT_SETATTR,
                    (long) mount.value(), arena.allocateFrom(""), (long) (AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0)),
                    attr, Layouts.MOUNT_ATTR.byteSize());
            LibC.check("mount_setattr(fd " + mount.value() + ", set 0x" + Long.toHexString(set) + ")", result, state);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw LibC.propagate(t);
        }
    }

    /** move_mount(2): attaches the detached mount {@code mount} on the directory {@code target} holds. */
    public static void moveMount(Fd mount, Fd target) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment empty = arena.allocateFrom("");
            MemorySegment state = LibC.callState(arena);
            long result = (long) LibC.SYSCALL_MOVE_MOUNT.invokeExact(state, LibC.SYS_MOVE_MOUNT,
                    (long) mount.value(), empty, (long) target.value(), empty,
                    (long) (MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH));
            LibC.check("move_mount(fd " + mount.value() + " -> fd " + target.value() + ")", result, state);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw LibC.propagate(t);
        }
    }

    private static Fd openat2(int dirFd, String path, int flags, long resolve) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment how = arena.allocate(Layouts.OPEN_HOW);
            how.set(JAVA_LONG, Layouts.offset(Layouts.OPEN_HOW, "flags"), flags);
            how.set(JAVA_LONG, Layouts.offset(Layouts.OPEN_HOW, "resolve"), resolve);
            MemorySegment state = LibC.callState(arena);
            long result = (long) LibC.SYSCALL_OPENAT2.invokeExact(state, LibC.SYS_OPENAT2, (long) dirFd,
                    arena.allocateFrom(path), how, Layouts.OPEN_HOW.byteSize());
            return new Fd((int) LibC.check("openat2(" + path + ")", result, state));
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw LibC.propagate(t);
        }
    }
}
