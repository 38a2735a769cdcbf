package io.javakata.sys;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The read/write path of a vsock connection, on a descriptor this machine can make without vhost-vsock:
 * a FIFO opened O_RDWR (Linux allows it), so that what the connection writes it reads back.
 */
@Timeout(20)
class VsockConnectionTest {

    @TempDir
    Path dir;

    @Test
    void readsAndWritesThroughTheDescriptor() throws IOException {
        Path fifo = dir.resolve("loop");
        Fifos.mkfifo(fifo, 0600);
        VsockConnection c = new VsockConnection(Fds.open(fifo, Fds.O_RDWR | Fds.O_CLOEXEC, 0), "vsock:test");
        byte[] payload = new byte[50_000];
        for (int i = 0; i < payload.length; i++) {
            payload[i] = (byte) i;
        }
        c.output().write(payload);
        assertArrayEquals(payload, c.input().readNBytes(payload.length));
        c.output().write('z');
        assertEquals('z', c.input().read());
        c.close();
        c.close();
        assertEquals(-1, c.input().read(), "a closed connection reads end of stream");
        IOException e = assertThrows(IOException.class, () -> c.output().write(1));
        assertEquals("vsock:test is closed", e.getMessage());
    }
}
