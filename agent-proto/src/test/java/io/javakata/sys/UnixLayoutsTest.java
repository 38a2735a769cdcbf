package io.javakata.sys;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Sizes and offsets as gcc's sizeof/offsetof (and the CMSG_* macros) give them on x86-64 Linux. */
@Timeout(10)
class UnixLayoutsTest {

    @Test
    void sockaddrUnIsFamilyAndPath() {
        assertEquals(110, UnixLayouts.SOCKADDR_UN.byteSize());
        assertEquals(0, UnixLayouts.offset(UnixLayouts.SOCKADDR_UN, "sun_family"));
        assertEquals(2, UnixLayouts.offset(UnixLayouts.SOCKADDR_UN, "sun_path"));
    }

    @Test
    void msghdrIs56BytesWithPaddedLengths() {
        assertEquals(56, UnixLayouts.MSGHDR.byteSize());
        assertEquals(0, UnixLayouts.offset(UnixLayouts.MSGHDR, "msg_name"));
        assertEquals(8, UnixLayouts.offset(UnixLayouts.MSGHDR, "msg_namelen"));
        assertEquals(16, UnixLayouts.offset(UnixLayouts.MSGHDR, "msg_iov"));
        assertEquals(24, UnixLayouts.offset(UnixLayouts.MSGHDR, "msg_iovlen"));
        assertEquals(32, UnixLayouts.offset(UnixLayouts.MSGHDR, "msg_control"));
        assertEquals(40, UnixLayouts.offset(UnixLayouts.MSGHDR, "msg_controllen"));
        assertEquals(48, UnixLayouts.offset(UnixLayouts.MSGHDR, "msg_flags"));
    }

    @Test
    void iovecIsPointerAndLength() {
        assertEquals(16, UnixLayouts.IOVEC.byteSize());
        assertEquals(8, UnixLayouts.offset(UnixLayouts.IOVEC, "iov_len"));
    }

    @Test
    void cmsgForOneFdMatchesCmsgSpaceAndData() {
        assertEquals(24, UnixLayouts.CMSG_ONE_FD.byteSize(), "CMSG_SPACE(sizeof(int))");
        assertEquals(20, UnixLayouts.CMSG_LEN_ONE_FD, "CMSG_LEN(sizeof(int))");
        assertEquals(8, UnixLayouts.offset(UnixLayouts.CMSG_ONE_FD, "cmsg_level"));
        assertEquals(12, UnixLayouts.offset(UnixLayouts.CMSG_ONE_FD, "cmsg_type"));
        assertEquals(16, UnixLayouts.offset(UnixLayouts.CMSG_ONE_FD, "cmsg_data"), "CMSG_DATA");
    }

    @Test
    void winsizeAndPollfd() {
        assertEquals(8, UnixLayouts.WINSIZE.byteSize());
        assertEquals(2, UnixLayouts.offset(UnixLayouts.WINSIZE, "ws_col"));
        assertEquals(8, UnixLayouts.POLLFD.byteSize());
        assertEquals(4, UnixLayouts.offset(UnixLayouts.POLLFD, "events"));
        assertEquals(6, UnixLayouts.offset(UnixLayouts.POLLFD, "revents"));
    }
}
