package io.javakata.sys;

import java.lang.foreign.Arena;

/**
 * The C library's heap of this process. Linux with glibc only.
 */
public final class NativeHeap {

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
            return (int) LibC.MALLOC_TRIM.invokeExact(LibC.callState(arena), 0L) == 1;
        } catch (Throwable t) {
            throw LibC.propagate(t);
        }
    }
}
