package io.javakata.ttrpc.transport;

import io.javakata.sys.ErrnoException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(30)
class TransportsTest {

    @TempDir
    Path dir;

    @Test
    void serialTransportWaitsForTheChardevSocket() throws Exception {
        Path socket = dir.resolve("agent.sock");
        CompletableFuture<Connection> connecting = new CompletableFuture<>();
        Thread connector = Thread.ofVirtual().start(() -> {
            try {
                connecting.complete(new SerialTransport(socket).connect(Duration.ofSeconds(10)));
            } catch (IOException e) {
                connecting.completeExceptionally(e);
            }
        });
        // The socket appears late, as QEMU's does: only once an attempt has failed and the transport waits to retry.
        Await.until("a failed attempt and a pause before the next", Duration.ofSeconds(5),
                () -> connector.getState() == Thread.State.TIMED_WAITING);
        try (ServerSocketChannel qemu = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            qemu.bind(UnixDomainSocketAddress.of(socket));
            try (SocketChannel port = qemu.accept(); Connection c = connecting.get(5, TimeUnit.SECONDS)) {
                assertEquals("serial:" + socket, new SerialTransport(socket).describe());
                c.output().write("hi".getBytes(StandardCharsets.US_ASCII));
                port.write(java.nio.ByteBuffer.wrap("yo".getBytes(StandardCharsets.US_ASCII)));
                assertEquals("yo", new String(c.input().readNBytes(2), StandardCharsets.US_ASCII));
            }
        }
    }

    @Test
    void serialTransportGivesUpNamingSocketAndAttempts() {
        Path socket = dir.resolve("never.sock");
        IOException e = assertThrows(IOException.class,
                () -> new SerialTransport(socket).connect(Duration.ofMillis(300)));
        assertTrue(e.getMessage().startsWith("connect serial:" + socket + ": gave up after "), e.getMessage());
        assertTrue(e.getMessage().contains(" attempts in PT0.3S: connect unix:" + socket), e.getMessage());
    }

    @Test
    void vsockTransportFailsCleanlyWithoutVhostVsock() {
        IOException e = assertThrows(IOException.class,
                () -> new VsockTransport(3, 1024).connect(Duration.ofMillis(500)));
        assertTrue(e.getMessage().startsWith("connect vsock:3:1024: gave up after "), e.getMessage());
        assertInstanceOf(ErrnoException.class, e.getCause());
    }

    @Test
    void unixCloseUnblocksAPendingRead() throws Exception {
        Path socket = dir.resolve("u.sock");
        try (ServerSocketChannel listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            listener.bind(UnixDomainSocketAddress.of(socket));
            UnixConnection c = UnixConnection.connect(socket);
            try (SocketChannel peer = listener.accept()) {
                assertTrue(peer.isConnected());
                CompletableFuture<Integer> read = new CompletableFuture<>();
                Thread reader = Thread.ofVirtual().start(() -> {
                    try {
                        read.complete(c.input().read(new byte[10], 0, 10));
                    } catch (IOException e) {
                        read.completeExceptionally(e);
                    }
                });
                // A virtual thread blocked reading a socket is parked (WAITING) until data or close.
                Await.until("the reader blocked in read", Duration.ofSeconds(5),
                        () -> reader.getState() == Thread.State.WAITING);
                c.close();
                assertEquals(-1, read.get(5, TimeUnit.SECONDS));
            }
        }
    }

    @Test
    void pipeCarriesBothWaysAndCloseEndsBoth() throws Exception {
        PipeConnection[] pair = PipeConnection.pair();
        byte[] big = new byte[1 << 20];
        big[big.length - 1] = 7;
        CompletableFuture<byte[]> received = CompletableFuture.supplyAsync(() -> {
            try {
                return pair[1].input().readNBytes(big.length);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }, r -> Thread.ofVirtual().start(r));
        pair[0].output().write(big);
        assertEquals(7, received.get(5, TimeUnit.SECONDS)[big.length - 1], "larger than the pipe's capacity");
        pair[1].output().write(3);
        assertEquals(3, pair[0].input().read());
        pair[1].close();
        assertEquals(-1, pair[0].input().read());
        assertThrows(IOException.class, () -> pair[0].output().write(1));
    }

    @Test
    void deviceConnectionSharesOneDescriptorForBothDirections() throws IOException {
        Path device = dir.resolve("vport");
        Files.writeString(device, "from host");
        try (DeviceConnection c = DeviceConnection.open(device)) {
            assertEquals("from host", new String(c.input().readNBytes(9), StandardCharsets.US_ASCII));
            c.output().write(" and back".getBytes(StandardCharsets.US_ASCII));
            assertEquals("serial:" + device, c.describe());
        }
        assertEquals("from host and back", Files.readString(device));
        IOException e = assertThrows(IOException.class, () -> DeviceConnection.open(dir.resolve("no/port")));
        assertTrue(e.getMessage().startsWith("open virtio-serial port "), e.getMessage());
    }

    @Test
    void aDeviceSessionEndsWithoutClosingThePort() throws IOException {
        Path device = dir.resolve("vport");
        Files.writeString(device, "first second");
        try (DeviceConnection port = DeviceConnection.open(device)) {
            Connection one = port.session();
            assertEquals("first ", new String(one.input().readNBytes(6), StandardCharsets.US_ASCII));
            one.close();
            assertEquals(-1, one.input().read(), "a closed session reads its end");
            IOException late = assertThrows(IOException.class, () -> one.output().write(2));
            assertTrue(late.getMessage().endsWith("session closed"), late.getMessage());

            // The next session reads on where the port is: nothing sent meanwhile is lost.
            Connection two = port.session();
            assertEquals("second", new String(two.input().readNBytes(6), StandardCharsets.US_ASCII));
            assertEquals(-1, two.input().read(), "end of data: no host");
            assertFalse(port.broken(), "end of data is not an error");
        }
    }
}
