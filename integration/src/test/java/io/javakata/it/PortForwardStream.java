package io.javakata.it;

import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;

/**
 * One CRI PortForward session for a single port over the WebSocket protocol of the kubelet's streaming server
 * (containerd 1.6's {@code pkg/cri/streaming/portforward/websocket.go}): subprotocol {@value #PROTOCOL}, binary
 * frames whose first byte is the channel, two channels per port — 0 data (both ways) and 1 error (from the
 * server) — each starting with the port as an unsigned 16-bit little-endian number. The server closes the
 * WebSocket when the forwarded connection has ended. Thread-safe.
 */
final class PortForwardStream implements AutoCloseable {

    static final String PROTOCOL = "v4.channel.k8s.io";

    /** What came back: the data and error channels without their port prefix. */
    record Result(byte[] data, String error) {
        String text() {
            return new String(data, StandardCharsets.UTF_8);
        }
    }

    private final Object lock = new Object();
    private final ByteArrayOutputStream data = new ByteArrayOutputStream();
    private final ByteArrayOutputStream error = new ByteArrayOutputStream();
    private final CompletableFuture<Void> closed = new CompletableFuture<>();
    private final HttpClient http = HttpClient.newHttpClient();
    private final WebSocket socket;
    private final int port;

    private PortForwardStream(String url, int port, Duration timeout) throws Exception {
        this.port = port;
        URI uri = URI.create(url.replaceFirst("^http", "ws") + "?port=" + port);
        this.socket = http.newWebSocketBuilder().subprotocols(PROTOCOL).connectTimeout(timeout)
                .buildAsync(uri, new Listener()).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        if (!PROTOCOL.equals(socket.getSubprotocol())) {
            socket.abort();
            http.close();
            throw new IllegalStateException("the streaming server chose subprotocol '" + socket.getSubprotocol() + "', not " + PROTOCOL);
        }
    }

    /** Connects to {@code url} (from PortForward for the single port {@code port}). */
    static PortForwardStream connect(String url, int port, Duration timeout) throws Exception {
        return new PortForwardStream(url, port, timeout);
    }

    /**
     * Sends {@code bytes} to the forwarded port; false if the server had already closed the stream (it does when
     * its dial of the port fails, with the reason on the error channel).
     */
    boolean send(byte[] bytes) {
        ByteBuffer frame = ByteBuffer.allocate(bytes.length + 1).put((byte) 0).put(bytes).flip();
        synchronized (lock) {
            try {
                socket.sendBinary(frame, true).join();
                return true;
            } catch (java.util.concurrent.CompletionException e) {
                if (closed.isDone() || socket.isOutputClosed() || socket.isInputClosed()) {
                    return false;
                }
                throw e;
            }
        }
    }

    /** Everything received once the server closed the stream. */
    Result awaitEnd(Duration timeout) throws Exception {
        closed.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        synchronized (lock) {
            return new Result(strip(data.toByteArray(), "data"), new String(strip(error.toByteArray(), "error"), StandardCharsets.UTF_8));
        }
    }

    /** The channel's bytes after its 2-byte port prefix, which must name our port. */
    private byte[] strip(byte[] bytes, String channel) {
        if (bytes.length < 2) {
            throw new AssertionError("the " + channel + " channel carried " + bytes.length + " bytes, not the 2-byte port prefix");
        }
        int prefix = (bytes[0] & 0xff) | (bytes[1] & 0xff) << 8;
        if (prefix != port) {
            throw new AssertionError("the " + channel + " channel starts with port " + prefix + ", not " + port);
        }
        byte[] rest = new byte[bytes.length - 2];
        System.arraycopy(bytes, 2, rest, 0, rest.length);
        return rest;
    }

    @Override
    public void close() {
        synchronized (lock) {
            if (!socket.isOutputClosed()) {
                socket.sendClose(WebSocket.NORMAL_CLOSURE, "").exceptionally(e -> null).join();
            }
        }
        try {
            closed.get(5, TimeUnit.SECONDS);
        } catch (Exception e) {
            socket.abort();
        }
        http.close();
    }

    private final class Listener implements WebSocket.Listener {
        private ByteArrayOutputStream message = new ByteArrayOutputStream();

        @Override
        public CompletionStage<?> onBinary(WebSocket webSocket, ByteBuffer frame, boolean last) {
            byte[] bytes = new byte[frame.remaining()];
            frame.get(bytes);
            message.writeBytes(bytes);
            if (last) {
                byte[] whole = message.toByteArray();
                message = new ByteArrayOutputStream();
                if (whole.length > 0) {
                    synchronized (lock) {
                        switch (whole[0]) {
                            case 0 -> data.write(whole, 1, whole.length - 1);
                            case 1 -> error.write(whole, 1, whole.length - 1);
                            default -> error.writeBytes(("[frame on unexpected channel " + whole[0] + "]").getBytes(StandardCharsets.UTF_8));
                        }
                    }
                }
            }
            webSocket.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
            closed.complete(null);
            return null;
        }

        @Override
        public void onError(WebSocket webSocket, Throwable e) {
            closed.complete(null);
        }
    }
}
