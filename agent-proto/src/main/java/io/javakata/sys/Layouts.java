package io.javakata.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.time.Duration;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * Every C struct javakata passes to the kernel, declared once, for x86-64 Linux. LayoutsTest pins each
 * size and offset to what gcc's {@code sizeof}/{@code offsetof} gave on this machine.
 */
final class Layouts {

    /** {@code struct sockaddr_vm}, linux/vm_sockets.h: 16 bytes, host byte order. */
    static final StructLayout SOCKADDR_VM = MemoryLayout.structLayout(
            JAVA_SHORT.withName("svm_family"),
            JAVA_SHORT.withName("svm_reserved1"),
            JAVA_INT.withName("svm_port"),
            JAVA_INT.withName("svm_cid"),
            JAVA_BYTE.withName("svm_flags"),
            MemoryLayout.sequenceLayout(3, JAVA_BYTE).withName("svm_zero"));

    /** {@code struct open_how}, linux/openat2.h: flags, mode, resolve; 24 bytes (OPEN_HOW_SIZE_VER0). */
    static final StructLayout OPEN_HOW = MemoryLayout.structLayout(
            JAVA_LONG.withName("flags"),
            JAVA_LONG.withName("mode"),
            JAVA_LONG.withName("resolve"));

    /** {@code struct mount_attr}, linux/mount.h: 32 bytes (MOUNT_ATTR_SIZE_VER0). */
    static final StructLayout MOUNT_ATTR = MemoryLayout.structLayout(
            JAVA_LONG.withName("attr_set"),
            JAVA_LONG.withName("attr_clr"),
            JAVA_LONG.withName("propagation"),
            JAVA_LONG.withName("userns_fd"));

    /** {@code struct timeval}, bits/types/struct_timeval.h (time_t and suseconds_t are 64-bit). */
    static final StructLayout TIMEVAL = MemoryLayout.structLayout(
            JAVA_LONG.withName("tv_sec"),
            JAVA_LONG.withName("tv_usec"));

    /** A {@code struct timeval} of {@code duration} (to the microsecond) in {@code arena}, for socket timeouts. */
    static MemorySegment timeval(Arena arena, Duration duration) {
        MemorySegment tv = arena.allocate(TIMEVAL);
        tv.set(JAVA_LONG, offset(TIMEVAL, "tv_sec"), duration.toSeconds());
        tv.set(JAVA_LONG, offset(TIMEVAL, "tv_usec"), duration.toNanosPart() / 1000);
        return tv;
    }

    /**
     * {@code siginfo_t}, bits/types/siginfo_t.h, as far as a SIGCHLD's fields go: 128 bytes in all; the
     * union starts at 16 on 64-bit because of alignment, so {@code si_pid} sits at 16.
     */
    static final StructLayout SIGINFO = MemoryLayout.structLayout(
            JAVA_INT.withName("si_signo"),
            JAVA_INT.withName("si_errno"),
            JAVA_INT.withName("si_code"),
            MemoryLayout.paddingLayout(4),
            JAVA_INT.withName("si_pid"),
            JAVA_INT.withName("si_uid"),
            JAVA_INT.withName("si_status"),
            MemoryLayout.paddingLayout(100));

    private Layouts() {
    }

    /** Byte offset of a named field, for the code that writes and reads these structs. */
    static long offset(StructLayout layout, String field) {
        return layout.byteOffset(MemoryLayout.PathElement.groupElement(field));
    }
}
