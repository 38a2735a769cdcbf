package io.javakata.sys;

import java.lang.foreign.Arena;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The C library's heap of this process. Linux with glibc only.
 */
public final class NativeHeap {

    /**
     * {@code int malloc_trim(size_t pad)} (glibc): 1 if memory was returned to the kernel, else 0. Linked here, not
     * in LibC: only a template's agent calls it, once.
     */
    private static final MethodHandle MALLOC_TRIM = LibC.link("malloc_trim", JAVA_INT, JAVA_LONG);

    private NativeHeap() {
    }

    /**
     * Hands every whole free page of every malloc arena back to the kernel: glibc's {@code malloc_trim(0)}, which
     * since glibc 2.8 also releases the free pages inside an arena, not only at its top (malloc_trim(3)). A JVM
     * keeps what its JIT and class loading freed; in a guest the pages released become free guest memory.
     *
     * @return whether any memory was released
     */
    public static boolean trim() {
        try (Arena arena = Arena.ofConfined()) {
            return (int) MALLOC_TRIM.invokeExact(LibC.callState(arena), 0L) == 1;
        } catch (Throwable t) {
            throw LibC.propagate(t);
        }
    }
}
