package io.javakata.sys;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.StructLayout;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * The C structs of fd passing over AF_UNIX sockets and of terminal ioctls, for x86-64 Linux, declared
 * once. UnixLayoutsTest pins each size and offset to gcc's {@code sizeof}/{@code offsetof} on x86-64.
 */
final class UnixLayouts {

    /** {@code struct sockaddr_un}, sys/un.h: a family and a 108-byte path. */
    static final StructLayout SOCKADDR_UN = MemoryLayout.structLayout(
            JAVA_SHORT.withName("sun_family"),
            MemoryLayout.sequenceLayout(108, JAVA_BYTE).withName("sun_path"));

    /** {@code struct iovec}, bits/types/struct_iovec.h. */
    static final StructLayout IOVEC = MemoryLayout.structLayout(
            ADDRESS.withName("iov_base"),
            JAVA_LONG.withName("iov_len"));

    /** {@code struct msghdr}, bits/socket.h: 56 bytes, with padding after the two 32-bit fields. */
    static final StructLayout MSGHDR = MemoryLayout.structLayout(
            ADDRESS.withName("msg_name"),
            JAVA_INT.withName("msg_namelen"),
            MemoryLayout.paddingLayout(4),
            ADDRESS.withName("msg_iov"),
            JAVA_LONG.withName("msg_iovlen"),
            ADDRESS.withName("msg_control"),
            JAVA_LONG.withName("msg_controllen"),
            JAVA_INT.withName("msg_flags"),
            MemoryLayout.paddingLayout(4));

    /**
     * {@code struct cmsghdr}, bits/socket.h, followed by room for one int: CMSG_SPACE(sizeof(int)) = 24,
     * CMSG_LEN(sizeof(int)) = 20, CMSG_DATA at 16.
     */
    static final StructLayout CMSG_ONE_FD = MemoryLayout.structLayout(
            JAVA_LONG.withName("cmsg_len"),
            JAVA_INT.withName("cmsg_level"),
            JAVA_INT.withName("cmsg_type"),
            JAVA_INT.withName("cmsg_data"),
            MemoryLayout.paddingLayout(4));

    /** CMSG_LEN(sizeof(int)): header plus one descriptor, without trailing padding. */
    static final long CMSG_LEN_ONE_FD = 20;

    /** {@code struct winsize}, asm-generic/termios.h: four unsigned shorts. */
    static final StructLayout WINSIZE = MemoryLayout.structLayout(
            JAVA_SHORT.withName("ws_row"),
            JAVA_SHORT.withName("ws_col"),
            JAVA_SHORT.withName("ws_xpixel"),
            JAVA_SHORT.withName("ws_ypixel"));

    /** {@code struct pollfd}, asm-generic/poll.h. */
    static final StructLayout POLLFD = MemoryLayout.structLayout(
            JAVA_INT.withName("fd"),
            JAVA_SHORT.withName("events"),
            JAVA_SHORT.withName("revents"));

    private UnixLayouts() {
    }

    static long offset(StructLayout layout, String field) {
        return Layouts.offset(layout, field);
    }
}
