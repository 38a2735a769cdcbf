package io.javakata.hypervisor.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * A client for QEMU's QMP over a Unix socket (QEMU docs/interop/qmp-spec.rst: a greeting,
 * qmp_capabilities, then commands answered by return or error, interleaved with events).
 *
 * <p>The server speaks first with a greeting; {@link #connect} reads it and negotiates
 * {@code qmp_capabilities}. Every server message is one JSON object ending in CRLF. Events may
 * arrive at any time, even between a command and its reply: a line without {@code return} or
 * {@code error} is an event and goes to the {@link #onEvent} listeners.
 *
 * <p>Thread-safety: {@link #execute} may be called from any thread; commands are sent one at a time
 * (QMP executes them in order anyway) and each waits at most its own timeout. One virtual thread
 * reads the socket; listeners run on it and must not block. {@link #close()} fails pending commands.
 */
public final class QmpClient implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(QmpClient.class.getName());
    private static final ObjectMapper JSON = new ObjectMapper();

    private final SocketChannel channel;
    private final String name;
    private final CompletableFuture<JsonNode> greeting = new CompletableFuture<>();
    private final Map<Long, CompletableFuture<JsonNode>> pending = new ConcurrentHashMap<>();
    private final List<Consumer<JsonNode>> listeners = new CopyOnWriteArrayList<>();
    private final ReentrantLock commandLock = new ReentrantLock();
    private final AtomicLong nextId = new AtomicLong(1);
    private final AtomicBoolean closed = new AtomicBoolean();
    private final CompletableFuture<Void> disconnected = new CompletableFuture<>();

    private QmpClient(SocketChannel channel, String name) {
        this.channel = channel;
        this.name = name;
    }

    /** A command got no reply within its timeout; QEMU may still be alive (frozen, or busy) and the client usable. */
    public static final class NoReply extends IOException {
        NoReply(String message) {
            super(message);
        }
    }

    /**
     * Connects once (no retry), reads the greeting and negotiates capabilities, all within
     * {@code timeout}.
     *
     * @throws IOException if the socket refuses, or the greeting or negotiation fails
     */
    public static QmpClient connect(Path socket, Duration timeout) throws IOException {
        SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            channel.connect(UnixDomainSocketAddress.of(socket));
        } catch (IOException e) {
            channel.close();
            throw e;
        }
        QmpClient client = new QmpClient(channel, socket.toString());
        try {
            client.startReader();
            client.awaitGreeting(timeout);
            client.execute("qmp_capabilities", Map.of(), timeout);
            return client;
        } catch (IOException | RuntimeException e) {
            client.close();
            throw e;
        }
    }

    /** The greeting's {@code QMP} object (version and capabilities). */
    public JsonNode greeting() {
        return greeting.getNow(null);
    }

    /** Adds a listener for every event (the whole message: event, data, timestamp). */
    public void onEvent(Consumer<JsonNode> listener) {
        listeners.add(Objects.requireNonNull(listener, "listener"));
    }

    /** Completes when the server closes the connection or {@link #close()} is called. */
    public CompletableFuture<Void> onDisconnect() {
        return disconnected;
    }

    /**
     * Runs one command and returns its {@code return} value.
     *
     * @param arguments the command's arguments; empty or null for none
     * @param timeout   how long to wait for the reply (not counting the wait for earlier commands)
     * @throws IOException on an error reply (naming the command, the class and the desc), a timeout,
     *                     or a closed connection
     */
    public JsonNode execute(String command, Map<String, Object> arguments, Duration timeout) throws IOException {
        Objects.requireNonNull(command, "command");
        commandLock.lock();
        try {
            long id = nextId.getAndIncrement();
            ObjectNode request = JSON.createObjectNode();
            request.put("execute", command);
            if (arguments != null && !arguments.isEmpty()) {
                request.set("arguments", JSON.valueToTree(arguments));
            }
            request.put("id", id);
            CompletableFuture<JsonNode> reply = new CompletableFuture<>();
            pending.put(id, reply);
            try {
                // disconnect() marks the client down before failing pending replies, so a command
                // registered after that point sees it here instead of waiting for its timeout.
                if (disconnected.isDone()) {
                    throw new IOException("qmp " + command + " on " + name + ": connection closed");
                }
                write(JSON.writeValueAsString(request) + "\r\n");
                return unwrap(command, await(command, reply, timeout));
            } finally {
                pending.remove(id);
            }
        } finally {
            commandLock.unlock();
        }
    }

    private static JsonNode await(String command, CompletableFuture<JsonNode> reply, Duration timeout)
            throws IOException {
        try {
            return reply.get(Math.max(1, timeout.toMillis()), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new NoReply("qmp " + command + ": no reply within " + timeout);
        } catch (ExecutionException e) {
            throw new IOException("qmp " + command + ": " + e.getCause().getMessage(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("qmp " + command + ": interrupted");
        }
    }

    private static JsonNode unwrap(String command, JsonNode reply) throws IOException {
        JsonNode error = reply.get("error");
        if (error != null) {
            throw new IOException("qmp " + command + " failed: " + error.path("class").asText("?")
                    + ": " + error.path("desc").asText(""));
        }
        return reply.get("return");
    }

    private void awaitGreeting(Duration timeout) throws IOException {
        try {
            greeting.get(Math.max(1, timeout.toMillis()), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new IOException("qmp " + name + ": no greeting within " + timeout);
        } catch (ExecutionException e) {
            throw new IOException("qmp " + name + ": no greeting: " + e.getCause().getMessage(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("qmp " + name + ": interrupted waiting for the greeting");
        }
    }

    private void write(String line) throws IOException {
        ByteBuffer buffer = ByteBuffer.wrap(line.getBytes(StandardCharsets.UTF_8));
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
    }

    private void startReader() {
        Thread.ofVirtual().name("qmp-reader " + name).start(this::readLoop);
    }

    private void readLoop() {
        ByteBuffer buffer = ByteBuffer.allocate(64 * 1024);
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        IOException failure = null;
        try {
            while (channel.read(buffer.clear()) >= 0) {
                buffer.flip();
                while (buffer.hasRemaining()) {
                    byte b = buffer.get();
                    if (b == '\n') {
                        dispatch(line.toString(StandardCharsets.UTF_8).strip());
                        line.reset();
                    } else {
                        line.write(b);
                    }
                }
            }
        } catch (IOException e) {
            failure = e;
        } finally {
            disconnect(failure);
        }
    }

    private void dispatch(String text) {
        if (text.isEmpty()) {
            return;
        }
        JsonNode message;
        try {
            message = JSON.readTree(text);
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "qmp {0}: ignoring a line that is not JSON: {1}", name, text);
            return;
        }
        if (message.has("QMP")) {
            greeting.complete(message.get("QMP"));
        } else if (message.has("return") || message.has("error")) {
            CompletableFuture<JsonNode> reply = message.has("id") ? pending.get(message.get("id").asLong()) : null;
            if (reply == null) {
                LOG.log(System.Logger.Level.DEBUG, "qmp {0}: reply for no waiting command: {1}", name, text);
            } else {
                reply.complete(message);
            }
        } else {
            for (Consumer<JsonNode> listener : listeners) {
                try {
                    listener.accept(message);
                } catch (RuntimeException e) {
                    LOG.log(System.Logger.Level.WARNING, "qmp " + name + ": event listener failed", e);
                }
            }
        }
    }

    private void disconnect(IOException failure) {
        String why = closed.get() ? "connection closed" : failure == null
                ? "connection closed by QEMU" : "connection failed: " + failure.getMessage();
        IOException error = new IOException(why);
        disconnected.complete(null);
        greeting.completeExceptionally(error);
        pending.values().forEach(reply -> reply.completeExceptionally(error));
    }

    /** Closes the connection; waiting commands fail with "connection closed". */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            try {
                channel.close();
            } catch (IOException e) {
                LOG.log(System.Logger.Level.DEBUG, "qmp {0}: close: {1}", name, e.getMessage());
            }
        }
    }
}
