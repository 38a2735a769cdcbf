package io.javakata.shim.metrics;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** {@code GET /metrics} over a pod's metrics socket ({@link MetricsServer}), bounded in time and size. Stateless. */
final class MetricsScraper {

    static final int MAX_BODY = 16 << 20;

    private MetricsScraper() {
    }

    /**
     * The body of a 200 answer.
     *
     * @throws IOException naming the socket: no listener, another status, no answer within {@code timeout}, too large
     */
    static String get(Path socket, Duration timeout) throws IOException {
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            // A pod that stops answering must not hold the node-level scrape: closing the channel ends any wait on it.
            var deadline = CompletableFuture.delayedExecutor(timeout.toMillis(), TimeUnit.MILLISECONDS);
            CompletableFuture<Void> closer = CompletableFuture.runAsync(() -> closeQuietly(channel), deadline);
            try {
                channel.connect(UnixDomainSocketAddress.of(socket));
                channel.write(ByteBuffer.wrap("GET /metrics HTTP/1.1\r\nHost: pod\r\nConnection: close\r\n\r\n"
                        .getBytes(StandardCharsets.ISO_8859_1)));
                ByteArrayOutputStream response = new ByteArrayOutputStream();
                ByteBuffer buffer = ByteBuffer.allocate(65536);
                while (channel.read(buffer.clear()) >= 0) {
                    response.write(buffer.array(), 0, buffer.position());
                    if (response.size() > MAX_BODY) {
                        throw new IOException(socket + ": answer larger than " + MAX_BODY + " bytes");
                    }
                }
                return body(socket, response.toString(StandardCharsets.UTF_8));
            } catch (java.nio.channels.AsynchronousCloseException e) {
                throw new IOException(socket + ": no answer within " + timeout.toSeconds() + " s", e);
            } finally {
                closer.cancel(false);
            }
        }
    }

    private static void closeQuietly(SocketChannel channel) {
        try {
            channel.close();
        } catch (IOException e) {
            // closing to end a wait: nothing to do about a failure
        }
    }

    private static String body(Path socket, String response) throws IOException {
        int end = response.indexOf("\r\n\r\n");
        String status = response.lines().findFirst().orElse("");
        if (end < 0 || !status.startsWith("HTTP/1.1 200")) {
            throw new IOException(socket + ": " + (status.isEmpty() ? "empty answer" : status));
        }
        return response.substring(end + 4);
    }
}
