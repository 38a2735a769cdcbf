package io.javakata.it;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

import io.javakata.it.cri.ChannelSocket;

/**
 * One CRI PortForward session for a single port over the WebSocket protocol of the kubelet's streaming server
 * (containerd 1.6's {@code pkg/cri/streaming/portforward/websocket.go}): a {@link ChannelSocket} with two
 * channels per port — 0 data (both ways) and 1 error (from the server) — each starting with the port as an
 * unsigned 16-bit little-endian number. The server closes the WebSocket when the forwarded connection has ended.
 * Thread-safe.
 */
final class PortForwardStream implements AutoCloseable {

    /** What came back: the data and error channels without their port prefix. */
    record Result(byte[] data, String error) {
        String text() {
            return new String(data, StandardCharsets.UTF_8);
        }
    }

    private final Object lock = new Object();
    private final ByteArrayOutputStream data = new ByteArrayOutputStream();
    private final ByteArrayOutputStream error = new ByteArrayOutputStream();
    private final ChannelSocket socket;
    private final int port;

    private PortForwardStream(String url, int port, Duration timeout) throws Exception {
        this.port = port;
        this.socket = ChannelSocket.connect(url + "?port=" + port, timeout, this::received, () -> { });
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
        return socket.send(0, bytes);
    }

    private void received(int channel, byte[] message, int offset, int length) {
        synchronized (lock) {
            switch (channel) {
                case 0 -> data.write(message, offset, length);
                case 1 -> error.write(message, offset, length);
                default -> error.writeBytes(("[frame on unexpected channel " + channel + "]").getBytes(StandardCharsets.UTF_8));
            }
        }
    }

    /** Everything received once the server closed the stream. */
    Result awaitEnd(Duration timeout) throws Exception {
        socket.awaitClosed(timeout);
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
        socket.close();
    }
}
