package io.javakata.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The C library calls of {@link FdPassing}, {@link Terminals} and {@link Taps}, linked at class initialisation in the
 * same jextract style as {@link LibC} (errno captured per call, checked by {@link LibC#check}).
 */
@SuppressWarnings("restricted")
final class UnixCalls {

    private static final Linker LINKER = Linker.nativeLinker();

    static final MethodHandle SOCKETPAIR = link("socketpair", -1, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS);
    static final MethodHandle BIND = link("bind", -1, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT);
    static final MethodHandle LISTEN = link("listen", -1, JAVA_INT, JAVA_INT, JAVA_INT);
    static final MethodHandle ACCEPT4 = link("accept4", -1, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, JAVA_INT);
    static final MethodHandle SENDMSG = link("sendmsg", -1, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT);
    static final MethodHandle RECVMSG = link("recvmsg", -1, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT);
    static final MethodHandle POLL = link("poll", -1, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT);
    /** {@code int ioctl(int fd, unsigned long request, ...)}: the argument is variadic. */
    static final MethodHandle IOCTL = link("ioctl", 2, JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS);

    private UnixCalls() {
    }

    /** {@code ioctl(fd, request, arg)} with a pointer argument; {@code what} names the call in the error. */
    static void ioctl(Arena arena, int fd, long request, MemorySegment arg, String what) throws ErrnoException {
        try {
            MemorySegment state = LibC.callState(arena);
            int result = (int) IOCTL.invokeExact(state, fd, request, arg);
            LibC.check(what, result, state);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw LibC.propagate(t);
        }
    }

    private static MethodHandle link(String name, int firstVariadic, MemoryLayout result, MemoryLayout... args) {
        MemorySegment symbol = LINKER.defaultLookup().find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("libc symbol " + name + " not found"));
        Linker.Option capture = Linker.Option.captureCallState("errno");
        Linker.Option[] options = firstVariadic < 0
                ? new Linker.Option[] {capture}
                : new Linker.Option[] {capture, Linker.Option.firstVariadicArg(firstVariadic)};
        return LINKER.downcallHandle(symbol, FunctionDescriptor.of(result, args), options);
    }
}
