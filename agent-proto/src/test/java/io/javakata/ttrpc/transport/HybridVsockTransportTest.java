package io.javakata.ttrpc.transport;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Against an in-test fake VMM that speaks the hybrid vsock handshake (Firecracker's and Cloud Hypervisor's
 * docs/vsock.md: CONNECT &lt;port&gt;, then OK &lt;host port&gt;). */
@Timeout(30)
class HybridVsockTransportTest {

    @TempDir
    Path dir;
    ServerSocketChannel vmm;
    final List<String> commands = new CopyOnWriteArrayList<>();
    final AtomicInteger connections = new AtomicInteger();

    /** Each accepted connection gets the reply at index min(n, replies-1); null means close at once. */
    void startFakeVmm(Path socket, String... replies) throws IOException {
        vmm = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        vmm.bind(UnixDomainSocketAddress.of(socket));
        Thread.ofVirtual().start(() -> {
            while (true) {
                try {
                    SocketChannel peer = vmm.accept();
                    int n = connections.getAndIncrement();
                    commands.add(readLine(peer));
                    String reply = replies[Math.min(n, replies.length - 1)];
                    if (reply == null) {
                        peer.close();
                        continue;
                    }
                    peer.write(ByteBuffer.wrap(reply.getBytes(StandardCharsets.US_ASCII)));
                    Thread.ofVirtual().start(() -> echo(peer));
                } catch (IOException closed) {
                    return;
                }
            }
        });
    }

    @AfterEach
    void stop() throws IOException {
        if (vmm != null) {
            vmm.close();
        }
    }

    @Test
    void bytesAfterTheOkLineAreStreamData() throws IOException {
        Path socket = dir.resolve("ch.vsock");
        startFakeVmm(socket, "OK 1073741824\nearly");
        try (Connection c = new HybridVsockTransport(socket, 1024).connect(Duration.ofSeconds(5))) {
            assertEquals("early", new String(c.input().readNBytes(5), StandardCharsets.US_ASCII));
            c.output().write("ping".getBytes(StandardCharsets.US_ASCII));
            assertEquals("ping", new String(c.input().readNBytes(4), StandardCharsets.US_ASCII));
        }
        assertEquals(List.of("CONNECT 1024"), commands);
    }

    @Test
    void failedHandshakesAreRetried() throws IOException {
        Path socket = dir.resolve("retry.vsock");
        startFakeVmm(socket, null, "ERR no listener\n", "OK 5\n");
        try (Connection c = new HybridVsockTransport(socket, 1024).connect(Duration.ofSeconds(5))) {
            c.output().write('x');
            assertEquals('x', c.input().read());
        }
        assertEquals(3, connections.get());
    }

    @Test
    void givingUpNamesTheSocketAttemptsAndLastError() throws IOException {
        Path socket = dir.resolve("bad.vsock");
        startFakeVmm(socket, "NOPE\n");
        HybridVsockTransport transport = new HybridVsockTransport(socket, 1024);
        IOException e = assertThrows(IOException.class, () -> transport.connect(Duration.ofMillis(300)));
        assertTrue(e.getMessage().matches("connect hvsock:.*bad\\.vsock:1024: gave up after \\d+ attempts in PT0\\.3S: "
                + "VMM answered 'NOPE' to CONNECT 1024, expected 'OK <port>'"), e.getMessage());
        assertTrue(connections.get() > 1);
    }

    @Test
    void missingSocketFailsAfterTheTimeout() {
        HybridVsockTransport transport = new HybridVsockTransport(dir.resolve("none"), 1024);
        IOException e = assertThrows(IOException.class, () -> transport.connect(Duration.ofMillis(200)));
        assertTrue(e.getMessage().contains("none"), e.getMessage());
    }

    private static String readLine(SocketChannel peer) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        ByteBuffer one = ByteBuffer.allocate(1);
        while (peer.read(one.clear()) == 1 && one.get(0) != '\n') {
            line.write(one.get(0));
        }
        return line.toString(StandardCharsets.US_ASCII);
    }

    private static void echo(SocketChannel peer) {
        ByteBuffer buffer = ByteBuffer.allocate(1024);
        try (peer) {
            while (peer.read(buffer.clear()) > 0) {
                buffer.flip();
                while (buffer.hasRemaining()) {
                    peer.write(buffer);
                }
            }
        } catch (IOException ignored) {
            // the test closed its end
        }
    }
}
