package io.javakata.it.cri;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * A client of the CRI streaming server (containerd 1.6.20's {@code pkg/cri/streaming}, kubelet's remotecommand) for
 * the URLs that Exec and Attach return: a WebSocket with subprotocol {@value #PROTOCOL}. Every binary message
 * starts with a channel byte: 0 stdin (to the server), 1 stdout, 2 stderr, 3 error (the server's final
 * {@code metav1.Status} as JSON, {@code "status":"Success"} or a failure whose cause {@code ExitCode} carries the
 * exit code), 4 resize (to the server, JSON {@code {"Width":w,"Height":h}}). The server writes one empty frame on
 * stdout (or stderr, or error) first, and closes the socket when the process has ended.
 *
 * <p>Protocol v4 has no half-close: closing the WebSocket ({@link #close()}) closes stdin, stdout and stderr
 * together, so a process sees EOF on stdin but its later output is lost. Thread-safe.
 */
public final class CriStream implements AutoCloseable {

    public static final String PROTOCOL = ChannelSocket.PROTOCOL;
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The end of the process as the error channel reported it; {@code status} is the raw JSON (empty if none). */
    public record Exit(int exitCode, String status) {
    }

    private final Object lock = new Object();
    private final ByteArrayOutputStream stdout = new ByteArrayOutputStream();
    private final ByteArrayOutputStream stderr = new ByteArrayOutputStream();
    private final ByteArrayOutputStream error = new ByteArrayOutputStream();
    private final CompletableFuture<Exit> exit = new CompletableFuture<>();
    private final ChannelSocket socket;

    private CriStream(String url, Duration timeout) throws Exception {
        this.socket = ChannelSocket.connect(url, timeout, this::received, () -> exit.complete(parseExit()));
    }

    /** Connects to {@code url} (an http:// URL from Exec or Attach). */
    public static CriStream connect(String url, Duration timeout) throws Exception {
        return new CriStream(url, timeout);
    }

    public void sendStdin(String text) {
        send(0, text.getBytes(StandardCharsets.UTF_8));
    }

    /** Sends a terminal size on the resize channel. */
    public void resize(int width, int height) {
        send(4, ("{\"Width\":" + width + ",\"Height\":" + height + "}").getBytes(StandardCharsets.UTF_8));
    }

    private void send(int channel, byte[] data) {
        if (!socket.send(channel, data)) {
            throw new IllegalStateException("the streaming server has closed the stream");
        }
    }

    private void received(int channel, byte[] message, int offset, int length) {
        synchronized (lock) {
            switch (channel) {
                case 1 -> stdout.write(message, offset, length);
                case 2 -> stderr.write(message, offset, length);
                case 3 -> error.write(message, offset, length);
                default -> { } // the server writes nothing else
            }
        }
    }

    public String stdout() {
        synchronized (lock) {
            return stdout.toString(StandardCharsets.UTF_8);
        }
    }

    public String stderr() {
        synchronized (lock) {
            return stderr.toString(StandardCharsets.UTF_8);
        }
    }

    /** stdout once {@code until} holds for it. */
    public String awaitStdout(Predicate<String> until, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        String out = stdout();
        while (!until.test(out)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("stdout after " + timeout + " does not match: " + out + "\nstderr: " + stderr());
            }
            Thread.sleep(20);
            out = stdout();
        }
        return out;
    }

    /** The process's end, once the server has closed the stream. */
    public Exit awaitExit(Duration timeout) throws Exception {
        return exit.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Closes the WebSocket: the process's stdin reaches EOF (and the stream ends). */
    @Override
    public void close() {
        socket.close();
    }

    private Exit parseExit() {
        String json;
        synchronized (lock) {
            json = error.toString(StandardCharsets.UTF_8);
        }
        if (json.isBlank()) {
            return new Exit(-1, "");
        }
        try {
            JsonNode status = JSON.readTree(json);
            if ("Success".equals(status.path("status").asText())) {
                return new Exit(0, json);
            }
            for (JsonNode cause : status.path("details").path("causes")) {
                if ("ExitCode".equals(cause.path("reason").asText())) {
                    return new Exit(Integer.parseInt(cause.path("message").asText()), json);
                }
            }
            return new Exit(-1, json);
        } catch (Exception e) {
            return new Exit(-1, json);
        }
    }
}
