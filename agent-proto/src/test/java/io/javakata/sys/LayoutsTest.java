package io.javakata.sys;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Sizes and offsets as gcc's sizeof/offsetof report them on x86-64 Linux (the kernel's uapi headers). */
@Timeout(10)
class LayoutsTest {

    @Test
    void openHowAndMountAttrMatchTheKernelHeaders() {
        assertEquals(24, Layouts.OPEN_HOW.byteSize());
        assertEquals(0, Layouts.offset(Layouts.OPEN_HOW, "flags"));
        assertEquals(8, Layouts.offset(Layouts.OPEN_HOW, "mode"));
        assertEquals(16, Layouts.offset(Layouts.OPEN_HOW, "resolve"));
        assertEquals(32, Layouts.MOUNT_ATTR.byteSize());
        assertEquals(0, Layouts.offset(Layouts.MOUNT_ATTR, "attr_set"));
        assertEquals(8, Layouts.offset(Layouts.MOUNT_ATTR, "attr_clr"));
        assertEquals(16, Layouts.offset(Layouts.MOUNT_ATTR, "propagation"));
        assertEquals(24, Layouts.offset(Layouts.MOUNT_ATTR, "userns_fd"));
    }

    @Test
    void sockaddrVmMatchesVmSocketsH() {
        assertEquals(16, Layouts.SOCKADDR_VM.byteSize());
        assertEquals(0, Layouts.offset(Layouts.SOCKADDR_VM, "svm_family"));
        assertEquals(2, Layouts.offset(Layouts.SOCKADDR_VM, "svm_reserved1"));
        assertEquals(4, Layouts.offset(Layouts.SOCKADDR_VM, "svm_port"));
        assertEquals(8, Layouts.offset(Layouts.SOCKADDR_VM, "svm_cid"));
        assertEquals(12, Layouts.offset(Layouts.SOCKADDR_VM, "svm_flags"));
        assertEquals(13, Layouts.offset(Layouts.SOCKADDR_VM, "svm_zero"));
    }

    @Test
    void timevalIsTwoLongs() {
        assertEquals(16, Layouts.TIMEVAL.byteSize());
        assertEquals(0, Layouts.offset(Layouts.TIMEVAL, "tv_sec"));
        assertEquals(8, Layouts.offset(Layouts.TIMEVAL, "tv_usec"));
    }

    @Test
    void siginfoHasPidAtSixteen() {
        assertEquals(128, Layouts.SIGINFO.byteSize());
        assertEquals(0, Layouts.offset(Layouts.SIGINFO, "si_signo"));
        assertEquals(8, Layouts.offset(Layouts.SIGINFO, "si_code"));
        assertEquals(16, Layouts.offset(Layouts.SIGINFO, "si_pid"));
        assertEquals(20, Layouts.offset(Layouts.SIGINFO, "si_uid"));
        assertEquals(24, Layouts.offset(Layouts.SIGINFO, "si_status"));
    }
}
