package io.javakata.it.cri;

import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;

/**
 * A WebSocket of the kubelet streaming server's channel protocol, as containerd 1.6 serves it for Exec, Attach and
 * PortForward: subprotocol {@value #PROTOCOL}, every binary message starting with its channel byte. Assembles each
 * message from its frames and hands it, without the channel byte, to a {@link Receiver}; sends one message at a
 * time (java.net.http.WebSocket's rule). What the channels mean is the caller's. Thread-safe.
 */
public final class ChannelSocket implements AutoCloseable {

    public static final String PROTOCOL = "v4.channel.k8s.io";

    /** Gets each whole message; called on the WebSocket's thread, one message at a time, in order. */
    public interface Receiver {
        void received(int channel, byte[] message, int offset, int length);
    }

    private final Object sendLock = new Object();
    private final CompletableFuture<Void> closed = new CompletableFuture<>();
    private final HttpClient http = HttpClient.newHttpClient();
    private final WebSocket socket;

    private ChannelSocket(URI uri, Duration timeout, Receiver receiver, Runnable onClose) throws Exception {
        try {
            socket = http.newWebSocketBuilder().subprotocols(PROTOCOL).connectTimeout(timeout)
                    .buildAsync(uri, new Listener(receiver, onClose)).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            http.close();
            throw e;
        }
        if (!PROTOCOL.equals(socket.getSubprotocol())) {
            socket.abort();
            http.close();
            throw new IllegalStateException("the streaming server chose subprotocol '" + socket.getSubprotocol()
                    + "', not " + PROTOCOL);
        }
    }

    /**
     * Connects to {@code url} (an http:// URL from Exec, Attach or PortForward). {@code onClose} runs once, when the
     * server closes the socket or it fails, before {@link #awaitClosed} returns.
     */
    public static ChannelSocket connect(String url, Duration timeout, Receiver receiver, Runnable onClose)
            throws Exception {
        return new ChannelSocket(URI.create(url.replaceFirst("^http", "ws")), timeout, receiver, onClose);
    }

    /** Sends {@code data} on {@code channel}; false if the server had already closed the stream. */
    public boolean send(int channel, byte[] data) {
        ByteBuffer frame = ByteBuffer.allocate(data.length + 1).put((byte) channel).put(data).flip();
        synchronized (sendLock) {
            try {
                socket.sendBinary(frame, true).join();
                return true;
            } catch (CompletionException e) {
                if (closed.isDone() || socket.isOutputClosed() || socket.isInputClosed()) {
                    return false;
                }
                throw e;
            }
        }
    }

    /** Returns once the server has closed the socket. */
    public void awaitClosed(Duration timeout) throws Exception {
        closed.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Closes the WebSocket (which ends every channel at once) and waits a moment for the server's close. */
    @Override
    public void close() {
        synchronized (sendLock) {
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
        private final Receiver receiver;
        private final Runnable onClose;
        private ByteArrayOutputStream message = new ByteArrayOutputStream();

        Listener(Receiver receiver, Runnable onClose) {
            this.receiver = receiver;
            this.onClose = onClose;
        }

        @Override
        public CompletionStage<?> onBinary(WebSocket webSocket, ByteBuffer frame, boolean last) {
            byte[] bytes = new byte[frame.remaining()];
            frame.get(bytes);
            message.writeBytes(bytes);
            if (last) {
                byte[] whole = message.toByteArray();
                message = new ByteArrayOutputStream();
                if (whole.length > 0) {
                    receiver.received(whole[0], whole, 1, whole.length - 1);
                }
            }
            webSocket.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
            end();
            return null;
        }

        @Override
        public void onError(WebSocket webSocket, Throwable error) {
            end();
        }

        private void end() {
            try {
                onClose.run();
            } finally {
                closed.complete(null);
            }
        }
    }
}
