package io.javakata.sys;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(20)
class VsockSocketTest {

    /** This machine has no vhost-vsock: connecting must fail with a worded errno, not crash or hang. */
    @Test
    void connectWithoutVhostVsockFailsCleanly() {
        ErrnoException e = assertThrows(ErrnoException.class,
                () -> VsockSocket.connect(3, 1024, Duration.ofSeconds(1)));
        assertTrue(e.getMessage().matches(".*vsock cid=3 port=1024.* failed: errno \\d+ E[A-Z]+ \\(.+\\)"),
                e.getMessage());
    }

    @Test
    void sockaddrIsFilledInHostByteOrder() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment address = VsockSocket.sockaddr(arena, 3, 1024);
            assertEquals(40, address.get(JAVA_SHORT, 0));
            assertEquals(1024, address.get(JAVA_INT, 4));
            assertEquals(3, address.get(JAVA_INT, 8));
            assertEquals((byte) 0x00, address.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 4),
                    "1024 little-endian starts with 0x00");
            assertEquals((byte) 0x04, address.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 5));
        }
    }
}
