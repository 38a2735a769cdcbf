package io.javakata.ttrpc.transport;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What every agent transport (virtio-serial, vsock, hybrid vsock) must do, against a {@link FakeGuest} on a real
 * socket: carry bytes both ways; end reads and writes when the guest goes; give up on a refused or garbled
 * connection with an error that names the endpoint and the attempts; stay within its timeout with a guest that says
 * nothing. After each case the process holds no more descriptors than before it (nothing is left behind).
 * Subclassed per transport (Netty's SocketEchoTest / EpollSocketEchoTest shape).
 */
@Timeout(30)
abstract class TransportContract {

    static final Duration GIVE_UP = Duration.ofMillis(400);
    /** What a connect may take beyond its timeout: the last attempt's own bound and scheduling on a loaded host. */
    static final Duration SLACK = Duration.ofSeconds(3);

    @TempDir
    Path dir;
    FakeGuest guest;
    long fdsBefore;

    /** The transport to {@code guest}'s socket ({@code socket}); the subclass knows its handshake. */
    abstract Transport transport(Path socket);

    /** Whether the transport speaks the hybrid vsock handshake (then the fake guest is the VMM's socket too). */
    abstract boolean handshake();

    /**
     * The JDK opens some descriptors of its own once, on first use (the virtual-thread pollers' epoll sets, the
     * common pool): one round trip before the first count keeps them out of it.
     */
    @BeforeAll
    static void warmUp(@TempDir Path warm) throws Exception {
        try (FakeGuest g = new FakeGuest(warm.resolve("warm.sock"), false, FakeGuest.Behaviour.ANSWER);
             Connection c = new SerialTransport(warm.resolve("warm.sock")).connect(Duration.ofSeconds(5))) {
            c.output().write('w');
            CompletableFuture.supplyAsync(() -> readOne(c.input())).get(5, TimeUnit.SECONDS);
        }
    }

    @BeforeEach
    void countDescriptors() throws IOException {
        fdsBefore = openDescriptors();
    }

    @AfterEach
    void nothingIsLeftBehind() throws Exception {
        if (guest != null) {
            guest.close();
        }
        Await.until("the process's descriptors back to " + fdsBefore + " (now " + openDescriptors() + ")",
                Duration.ofSeconds(5), () -> openDescriptors() <= fdsBefore);
    }

    Transport start(FakeGuest.Behaviour behaviour) throws IOException {
        Path socket = dir.resolve("guest.sock");
        guest = new FakeGuest(socket, handshake(), behaviour);
        return transport(socket);
    }

    @Test
    void carriesBytesBothWaysAndClosesItsEnd() throws Exception {
        Transport transport = start(FakeGuest.Behaviour.ANSWER);
        byte[] sent = new byte[1 << 20];
        new Random(7).nextBytes(sent);
        try (Connection c = transport.connect(Duration.ofSeconds(5))) {
            CompletableFuture<byte[]> received = CompletableFuture.supplyAsync(() -> readExactly(c.input(), sent.length));
            c.output().write(sent);
            c.output().flush();
            assertArrayEquals(sent, received.get(10, TimeUnit.SECONDS));
        }
        Await.until("the guest sees the connection end", Duration.ofSeconds(5), guest::allPeersClosed);
        if (handshake()) {
            assertEquals(java.util.List.of("CONNECT 1024"), guest.handshakes);
        }
    }

    @Test
    void aLostConnectionEndsReadsAndWrites() throws Exception {
        Transport transport = start(FakeGuest.Behaviour.ANSWER);
        try (Connection c = transport.connect(Duration.ofSeconds(5))) {
            c.output().write('x');
            c.output().flush();
            assertEquals('x', c.input().read());
            CompletableFuture<Integer> pending = CompletableFuture.supplyAsync(() -> readOne(c.input()));
            guest.dropConnections();
            assertEquals(-1, pending.get(5, TimeUnit.SECONDS), "a read blocked on a guest that goes ends");
            IOException e = assertThrows(IOException.class, () -> {
                // The first writes may still land in the socket buffer; a dead peer refuses soon after.
                for (int i = 0; i < 1000; i++) {
                    c.output().write(new byte[4096]);
                    c.output().flush();
                }
            });
            assertTrue(e.getMessage() != null && !e.getMessage().isBlank(), "the error says what failed: " + e);
        }
    }

    @Test
    void aRefusedConnectGivesUpNamingTheEndpointAndAttempts() throws Exception {
        Transport transport = start(FakeGuest.Behaviour.REFUSE);
        long started = System.nanoTime();
        IOException e = assertThrows(IOException.class, () -> transport.connect(GIVE_UP));
        assertWithin(started, GIVE_UP.plus(SLACK));
        assertTrue(e.getMessage().startsWith("connect " + transport.describe() + ": gave up after "),
                e.getMessage());
        assertTrue(e.getMessage().matches("(?s).*gave up after \\d+ attempts in PT0\\.4S: .+"), e.getMessage());
        refusedDetail(e.getMessage());
    }

    /** What the last error says on this transport when nobody (or the VMM, for the guest) refuses. */
    abstract void refusedDetail(String message);

    /**
     * A caller that learns its guest is gone gives up, and the dial ends at once instead of at its timeout: between
     * attempts (refused), and in the middle of one (hybrid vsock: a CONNECT nobody answers, what a vsock backend
     * whose VM ended does).
     */
    @Test
    void aDialGivenUpEndsAtOnce() throws Exception {
        Transport transport = start(handshake() ? FakeGuest.Behaviour.SILENT : FakeGuest.Behaviour.REFUSE);
        CompletableFuture<Void> giveUp = new CompletableFuture<>();
        CompletableFuture<IOException> dial = CompletableFuture.supplyAsync(
                () -> assertThrows(IOException.class, () -> transport.connect(Duration.ofSeconds(60), giveUp)));
        if (handshake()) {
            Await.until("the CONNECT is sent", Duration.ofSeconds(10), () -> guest.connections() > 0);
        } else {
            assertThrows(java.util.concurrent.TimeoutException.class, () -> dial.get(300, TimeUnit.MILLISECONDS));
        }
        long gaveUp = System.nanoTime();
        giveUp.complete(null);
        IOException e = dial.get(SLACK.toMillis(), TimeUnit.MILLISECONDS);
        assertWithin(gaveUp, SLACK);
        assertTrue(e.getMessage().startsWith("connect " + transport.describe() + ": given up after "), e.getMessage());
        IOException late = assertThrows(IOException.class, () -> transport.connect(Duration.ofSeconds(60), giveUp));
        assertTrue(late.getMessage().endsWith("given up after 0 attempts"), "no attempt once given up: " + late);
    }

    @Test
    void aWrongOkLineIsRefusedOrCarriedAsData() throws Exception {
        Transport transport = start(FakeGuest.Behaviour.WRONG_LINE);
        if (handshake()) {
            IOException e = assertThrows(IOException.class, () -> transport.connect(GIVE_UP));
            assertTrue(e.getMessage().endsWith("VMM answered 'ERR 111' to CONNECT 1024, expected 'OK <port>'"),
                    e.getMessage());
            assertTrue(guest.connections() > 1, "a handshake that fails is retried until the timeout");
            return;
        }
        // Without a handshake there is no line to be wrong: whatever the guest sends first is stream data.
        try (Connection c = transport.connect(Duration.ofSeconds(5))) {
            byte[] first = readExactly(c.input(), FakeGuest.WRONG_LINE.length());
            assertEquals(FakeGuest.WRONG_LINE, new String(first, StandardCharsets.US_ASCII));
        }
    }

    @Test
    void aSilentGuestNeverHoldsACallerPastItsTimeout() throws Exception {
        Transport transport = start(FakeGuest.Behaviour.SILENT);
        Duration timeout = Duration.ofSeconds(1);
        long started = System.nanoTime();
        if (handshake()) {
            IOException e = assertThrows(IOException.class, () -> transport.connect(timeout));
            assertWithin(started, timeout.plus(SLACK));
            assertTrue(e.getMessage().contains("no answer to CONNECT 1024 within"), e.getMessage());
            return;
        }
        // No handshake: the connection opens, and a read waiting on the silent guest ends when the caller closes
        // (what the agent client's deadline does).
        Connection c = transport.connect(timeout);
        assertWithin(started, timeout.plus(SLACK));
        CompletableFuture<Integer> pending = CompletableFuture.supplyAsync(() -> readOne(c.input()));
        assertThrows(java.util.concurrent.TimeoutException.class, () -> pending.get(200, TimeUnit.MILLISECONDS));
        c.close();
        c.close();
        int result = pending.get(5, TimeUnit.SECONDS);
        assertEquals(-1, result);
    }

    static void assertWithin(long startedNanos, Duration bound) {
        Duration took = Duration.ofNanos(System.nanoTime() - startedNanos);
        assertTrue(took.compareTo(bound) <= 0, "took " + took + ", more than " + bound);
    }

    static byte[] readExactly(InputStream in, int n) {
        try {
            byte[] bytes = in.readNBytes(n);
            return bytes.length == n ? bytes : Arrays.copyOf(bytes, bytes.length);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** One byte, or -1 at the end of the stream or when the read fails because the connection went. */
    static int readOne(InputStream in) {
        try {
            return in.read();
        } catch (IOException e) {
            return -1;
        }
    }

    static long openDescriptors() throws IOException {
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }
}
