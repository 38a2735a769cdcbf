package io.javakata.hypervisor;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The console ring against a real Unix socket standing in for QEMU's console chardev. */
@Timeout(30)
class ConsoleRingTest {

    private static final Duration T = Duration.ofSeconds(10);

    @TempDir
    Path dir;
    private Process vmm;
    private Path socket;
    private Path log;

    @BeforeEach
    void standIn() throws IOException {
        vmm = new ProcessBuilder("sleep", "60").start();
        socket = dir.resolve("console.sock");
        log = dir.resolve("console.log");
    }

    @AfterEach
    void stopStandIn() {
        vmm.destroyForcibly();
    }

    /** Accepts one connection (the ring's) and hands it over. */
    private CompletableFuture<SocketChannel> listen(ServerSocketChannel server) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return server.accept();
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        });
    }

    private ServerSocketChannel server() throws IOException {
        return ServerSocketChannel.open(StandardProtocolFamily.UNIX).bind(UnixDomainSocketAddress.of(socket));
    }

    @Test
    void aFloodKeepsAtMostTheBoundAndTheNewestBytes() throws Exception {
        long max = 64 * 1024;
        try (ServerSocketChannel server = server()) {
            CompletableFuture<SocketChannel> guest = listen(server);
            ConsoleRing ring = ConsoleRing.connect(socket, log, max, vmm, T);
            try (SocketChannel out = guest.get()) {
                StringBuilder last = new StringBuilder();
                for (int i = 0; i < 20_000; i++) { // ~500 KB, eight times the bound
                    String line = "line %06d %s%n".formatted(i, "x".repeat(12));
                    out.write(ByteBuffer.wrap(line.getBytes(StandardCharsets.US_ASCII)));
                    if (i >= 19_990) {
                        last.append(line);
                    }
                }
            }
            awaitDone(ring);
            ring.close();
            long size = Files.size(log) + Files.size(ConsoleRing.previous(log));
            assertTrue(size <= max, "ring holds " + size + " bytes, bound " + max);
            assertTrue(size >= max / 2, "the older half is kept too: " + size);
            assertTrue(Files.size(log) <= max / 2 && Files.size(ConsoleRing.previous(log)) <= max / 2);
            String tail = ConsoleRing.tail(log, 4000);
            assertTrue(tail.endsWith("line 019999 xxxxxxxxxxxx"), tail);
        }
    }

    /** A spare VM's directory renamed to its pod's: the ring writes and rotates at the new place. */
    @Test
    void afterItsDirectoryMovedTheRingGoesOnThere() throws Exception {
        long max = 8 * 1024;
        try (ServerSocketChannel server = server()) {
            CompletableFuture<SocketChannel> guest = listen(server);
            ConsoleRing ring = ConsoleRing.connect(socket, log, max, vmm, T);
            try (SocketChannel out = guest.get()) {
                out.write(ByteBuffer.wrap("before the move\n".getBytes(StandardCharsets.US_ASCII)));
                long deadline = System.nanoTime() + T.toNanos();
                while (!ConsoleRing.tail(log, 100).equals("before the move") && System.nanoTime() < deadline) {
                    Thread.sleep(5);
                }
                Path moved = dir.resolveSibling(dir.getFileName() + "-moved");
                Files.move(dir, moved, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
                try {
                    Path newLog = moved.resolve("console.log");
                    ring.moveTo(newLog);
                    for (int i = 0; i < 400; i++) { // ~10 KB: past half the bound, so the ring rotates
                        out.write(ByteBuffer.wrap("line %04d after the move\n".formatted(i)
                                .getBytes(StandardCharsets.US_ASCII)));
                    }
                    while (!ConsoleRing.tail(newLog, 100).endsWith("line 0399 after the move")
                            && System.nanoTime() < deadline) {
                        Thread.sleep(5);
                    }
                    assertTrue(ConsoleRing.tail(newLog, 100).endsWith("line 0399 after the move"));
                    assertTrue(Files.exists(ConsoleRing.previous(newLog)), "rotated at the new place");
                    assertFalse(Files.exists(dir), "nothing written at the old place");
                } finally {
                    ring.close();
                    Files.move(moved, dir, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
                }
            }
        }
    }

    @Test
    void theTailSpansBothFilesRightAfterARotation() throws IOException {
        Files.writeString(ConsoleRing.previous(log), "older part\nend of older ");
        Files.writeString(log, "start of newest\n");
        assertEquals("older part\nend of older start of newest", ConsoleRing.tail(log, 1000));
        assertEquals("of older start of newest", ConsoleRing.tail(log, 25));
        assertEquals("", ConsoleRing.tail(dir.resolve("absent.log"), 1000));
    }

    @Test
    void closeStopsTheCopyWhileTheVmmStillRuns() throws Exception {
        try (ServerSocketChannel server = server()) {
            CompletableFuture<SocketChannel> guest = listen(server);
            ConsoleRing ring = ConsoleRing.connect(socket, log, 32 * 1024, vmm, T);
            try (SocketChannel out = guest.get()) {
                out.write(ByteBuffer.wrap("boot\n".getBytes(StandardCharsets.US_ASCII)));
                long deadline = System.nanoTime() + T.toNanos();
                while (!ConsoleRing.tail(log, 100).equals("boot") && System.nanoTime() < deadline) {
                    Thread.sleep(5);
                }
                assertEquals("boot", ConsoleRing.tail(log, 100));
                ring.close();
                assertTrue(ring.isDone());
            }
        }
    }

    @Test
    void aVmmThatExitsBeforeItsConsoleExistsIsReported() throws Exception {
        vmm.destroyForcibly().waitFor();
        IOException e = assertThrows(IOException.class, () -> ConsoleRing.connect(socket, log, 32 * 1024, vmm, T));
        assertTrue(e.getMessage().startsWith("the VMM exited with code"), e.getMessage());
        assertFalse(Files.exists(log));
    }

    private static void awaitDone(ConsoleRing ring) throws InterruptedException {
        long deadline = System.nanoTime() + T.toNanos();
        while (!ring.isDone() && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertTrue(ring.isDone(), "the copy did not reach the end of the socket");
    }
}
