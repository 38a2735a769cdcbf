package io.javakata.ttrpc.transport;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Hybrid vsock (Cloud Hypervisor, Firecracker; both projects' {@code docs/vsock.md}): connect to the VMM's Unix socket,
 * send {@code CONNECT <port>\n}, and read one line, which must start with {@code "OK "} (the number after
 * it is a host-side port, not the one asked for). Everything after that newline is the guest's stream.
 *
 * <p>The reply is read one byte at a time, so no stream byte is consumed with the line. A handshake that
 * fails (refused, closed, a line other than OK, no line within 10 s) is retried with back-off until the
 * timeout, as Kata does. Thread-safe; {@link #connect} blocks.
 */
public final class HybridVsockTransport implements Transport {

    private static final Duration MAX_REPLY_WAIT = Duration.ofSeconds(10);
    private static final Duration MIN_REPLY_WAIT = Duration.ofMillis(100);
    private static final int MAX_LINE = 64;

    private final Path socket;
    private final int port;

    public HybridVsockTransport(Path socket, int port) {
        if (port < 0) {
            throw new IllegalArgumentException("port=" + port + ": must not be negative");
        }
        this.socket = socket;
        this.port = port;
    }

    @Override
    public Connection connect(Duration timeout, CompletableFuture<?> giveUp) throws IOException {
        return Retry.until(describe(), timeout, giveUp, remaining -> handshake(remaining, giveUp));
    }

    @Override
    public String describe() {
        return "hvsock:" + socket + ":" + port;
    }

    private Connection handshake(Duration remaining, CompletableFuture<?> giveUp) throws IOException {
        UnixConnection connection = UnixConnection.connect(socket);
        Duration wait = remaining.compareTo(MIN_REPLY_WAIT) < 0 ? MIN_REPLY_WAIT
                : remaining.compareTo(MAX_REPLY_WAIT) > 0 ? MAX_REPLY_WAIT : remaining;
        // Closing the connection is what unblocks a read that gets no reply: after the wait, or when the caller gives
        // up (a vsock backend keeps taking CONNECTs for a guest that has gone, and never answers them).
        CompletableFuture<Void> replied = new CompletableFuture<>();
        replied.orTimeout(wait.toNanos(), TimeUnit.NANOSECONDS).whenComplete((v, e) -> {
            if (e != null) {
                closeQuietly(connection);
            }
        });
        giveUp.whenComplete((v, e) -> replied.completeExceptionally(new CancellationException("given up")));
        try {
            connection.output().write(("CONNECT " + port + "\n").getBytes(StandardCharsets.US_ASCII));
            connection.output().flush();
            String line = readLine(connection.input());
            if (!replied.complete(null)) {
                throw new IOException(giveUp.isDone() ? "CONNECT " + port + " given up before its answer"
                        : "no answer to CONNECT " + port + " within " + wait);
            }
            if (line == null) {
                throw new IOException("VMM closed the connection after CONNECT " + port
                        + " (is the guest listening on that port?)");
            }
            if (!line.startsWith("OK ")) {
                throw new IOException("VMM answered '" + line + "' to CONNECT " + port + ", expected 'OK <port>'");
            }
            return connection;
        } catch (IOException e) {
            replied.complete(null);
            closeQuietly(connection);
            throw e;
        }
    }

    /** One line without its newline; null if the stream ended before a newline. */
    private static String readLine(InputStream in) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        while (true) {
            int b = in.read();
            if (b == -1) {
                return null;
            }
            if (b == '\n') {
                return line.toString(StandardCharsets.US_ASCII);
            }
            if (line.size() == MAX_LINE) {
                throw new IOException("handshake reply longer than " + MAX_LINE + " bytes without a newline");
            }
            line.write(b);
        }
    }

    private static void closeQuietly(Connection connection) {
        try {
            connection.close();
        } catch (IOException ignored) {
            // Nothing to do: the connection is being abandoned.
        }
    }
}
