package io.javakata.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The C library calls javakata makes, in jextract style: one static final method handle per function,
 * all linked when this class initialises so that a missing symbol fails at startup, not mid-call.
 *
 * <p>Each call captures {@code errno} through {@link Linker.Option#captureCallState}, because the JVM may
 * make its own system calls between ours and a later read of errno. A result of -1 becomes an
 * {@link ErrnoException} naming the call. With {@code -Djavakata.trace.syscalls=true} each call and its
 * result is logged at DEBUG, as jextract's tracing flag does.
 *
 * <p>A blocking call (read, waitid, connect) pins the carrier thread while it runs: a virtual thread in
 * native code cannot unmount. Callers that block for long run on their own threads.
 */
@SuppressWarnings("restricted")
final class LibC {

    private static final System.Logger LOG = System.getLogger(LibC.class.getName());
    private static final boolean TRACE = Boolean.getBoolean("javakata.trace.syscalls");

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LOOKUP = LINKER.defaultLookup();
    private static final StructLayout CAPTURE_LAYOUT = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO =
            CAPTURE_LAYOUT.varHandle(MemoryLayout.PathElement.groupElement("errno"));

    static final MethodHandle MOUNT = link("mount", JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS);
    static final MethodHandle UMOUNT2 = link("umount2", JAVA_INT, ADDRESS, JAVA_INT);
    static final MethodHandle MKFIFO = link("mkfifo", JAVA_INT, ADDRESS, JAVA_INT);
    static final MethodHandle KILL = link("kill", JAVA_INT, JAVA_INT, JAVA_INT);
    /** {@code int prctl(int option, ...)}: variadic after the first argument. */
    static final MethodHandle PRCTL = link("prctl", 1, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG);
    static final MethodHandle WAITID = link("waitid", JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
    static final MethodHandle WAITPID = link("waitpid", JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
    /** {@code int open(const char *path, int flags, ...)}: the mode is variadic. */
    static final MethodHandle OPEN = link("open", 2, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT);
    static final MethodHandle DUP2 = link("dup2", JAVA_INT, JAVA_INT, JAVA_INT);
    static final MethodHandle CLOSE = link("close", JAVA_INT, JAVA_INT);
    /** {@code int memfd_create(const char *name, unsigned int flags)} (glibc 2.27). */
    static final MethodHandle MEMFD_CREATE = link("memfd_create", JAVA_INT, ADDRESS, JAVA_INT);
    static final MethodHandle SOCKET = link("socket", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT);
    static final MethodHandle CONNECT = link("connect", JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
    static final MethodHandle SETSOCKOPT = link("setsockopt", JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
    static final MethodHandle SHUTDOWN = link("shutdown", JAVA_INT, JAVA_INT, JAVA_INT);
    static final MethodHandle READ = link("read", JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG);
    static final MethodHandle WRITE = link("write", JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG);
    /*
     * The new mount API and openat2 through syscall(2): glibc 2.36 (Debian 12) has no openat2 wrapper. x86-64
     * numbers from arch/x86/entry/syscalls/syscall_64.tbl; every argument is passed as a long or a pointer.
     */
    static final long SYS_OPEN_TREE = 428;
    static final long SYS_MOVE_MOUNT = 429;
    static final long SYS_OPENAT2 = 437;
    static final long SYS_MOUNT_SETATTR = 442;
    /** {@code syscall(SYS_openat2, dirfd, path, how, size)} and {@code syscall(SYS_open_tree, dirfd, path, flags)}. */
    static final MethodHandle SYSCALL_OPENAT2 =
            link("syscall", 1, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS, ADDRESS, JAVA_LONG);
    static final MethodHandle SYSCALL_OPEN_TREE = link("syscall", 1, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG);
    /** {@code syscall(SYS_move_mount, from_dirfd, from_path, to_dirfd, to_path, flags)}. */
    static final MethodHandle SYSCALL_MOVE_MOUNT =
            link("syscall", 1, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG);
    /** {@code syscall(SYS_mount_setattr, dirfd, path, flags, attr, size)}. */
    static final MethodHandle SYSCALL_MOUNT_SETATTR =
            link("syscall", 1, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG);
    /** {@code syscall(SYS_seccomp, operation, flags, prog)}. */
    static final MethodHandle SYSCALL_SECCOMP = link("syscall", 1, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS);
    /** {@code int execv(const char *path, char *const argv[])}: the environment is the process's own. */
    static final MethodHandle EXECV = link("execv", JAVA_INT, ADDRESS, ADDRESS);
    /** {@code int mkdirat(int dirfd, const char *path, mode_t mode)}. */
    static final MethodHandle IOCTL = link("ioctl", 2, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG);
    static final MethodHandle CLOCK_SETTIME = link("clock_settime", JAVA_INT, JAVA_INT, ADDRESS);
    static final MethodHandle MKDIRAT = link("mkdirat", JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle STRERROR = LINKER.downcallHandle(
            LOOKUP.find("strerror").orElseThrow(), FunctionDescriptor.of(ADDRESS, JAVA_INT));

    static final int EINTR = 4;
    static final int ECHILD = 10;

    private LibC() {
    }

    /**
     * Links one function, capturing errno. For a function only one rarely loaded class calls, that class links it
     * itself (e.g. {@link NativeHeap}), so that every JVM that loads LibC, each shim among them, does not pay for it.
     */
    static MethodHandle link(String name, MemoryLayout result, MemoryLayout... args) {
        return link(name, -1, result, args);
    }

    private static MethodHandle link(String name, int firstVariadic, MemoryLayout result, MemoryLayout... args) {
        MemorySegment symbol = LOOKUP.find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("libc symbol " + name + " not found"));
        Linker.Option capture = Linker.Option.captureCallState("errno");
        Linker.Option[] options = firstVariadic < 0
                ? new Linker.Option[] {capture}
                : new Linker.Option[] {capture, Linker.Option.firstVariadicArg(firstVariadic)};
        return LINKER.downcallHandle(symbol, FunctionDescriptor.of(result, args), options);
    }

    /**
     * Links a function that returns its error number instead of setting errno (posix_spawn and its helpers): no call
     * state to capture.
     */
    static MethodHandle linkReturningError(String name, MemoryLayout result, MemoryLayout... args) {
        MemorySegment symbol = LOOKUP.find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("libc symbol " + name + " not found"));
        return LINKER.downcallHandle(symbol, FunctionDescriptor.of(result, args));
    }

    /** Room for the captured errno of one call, allocated in the caller's arena. */
    static MemorySegment callState(Arena arena) {
        return arena.allocate(CAPTURE_LAYOUT);
    }

    /**
     * Checks one call's result: -1 throws an ErrnoException worded "{@code what} failed: errno …".
     * Traces the call when {@code javakata.trace.syscalls} is set.
     */
    static long check(String what, long result, MemorySegment state) throws ErrnoException {
        if (result == -1) {
            int errno = (int) ERRNO.get(state, 0L);
            if (TRACE) {
                LOG.log(System.Logger.Level.DEBUG, "{0} = -1 errno {1}", what, errno);
            }
            throw new ErrnoException(what, errno);
        }
        if (TRACE) {
            LOG.log(System.Logger.Level.DEBUG, "{0} = {1}", what, result);
        }
        return result;
    }

    /** A C string in {@code arena}, or NULL for a null string. */
    static MemorySegment cString(Arena arena, String s) {
        return s == null ? MemorySegment.NULL : arena.allocateFrom(s);
    }

    /** The C library's text for an errno, e.g. "No such file or directory". */
    static String strerror(int errno) {
        try {
            MemorySegment text = (MemorySegment) STRERROR.invokeExact(errno);
            return text.equals(MemorySegment.NULL) ? "errno " + errno : text.reinterpret(1024).getString(0);
        } catch (Throwable t) {
            throw propagate(t);
        }
    }

    /** invokeExact declares Throwable; a downcall itself throws nothing checked. */
    static RuntimeException propagate(Throwable t) {
        if (t instanceof RuntimeException e) {
            return e;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException("native call failed", t);
    }
}
