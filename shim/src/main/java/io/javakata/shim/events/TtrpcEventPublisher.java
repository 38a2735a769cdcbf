package io.javakata.shim.events;

import com.google.protobuf.Empty;
import com.google.protobuf.Message;
import com.google.protobuf.TextFormat;
import io.containerd.services.events.ttrpc.v1.ForwardRequest;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;
import io.javakata.ttrpc.TtrpcClient;
import io.javakata.ttrpc.transport.Connection;
import io.javakata.ttrpc.transport.UnixConnection;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Forwards task events to containerd's ttrpc {@code Events} service at {@code $TTRPC_ADDRESS}, the way containerd's Go
 * shim library does (pkg/shim/publisher.go): one request per event, 5 s timeout each, metadata
 * {@code containerd-namespace-ttrpc}, up to 5 retries with a growing delay (1 s × attempt), then the event is logged and
 * dropped.
 *
 * <p>Thread-safety and blocking: {@link #publish} may be called from any thread and never blocks; it queues. One virtual
 * thread sends in publish order, and a retried event holds back the ones after it, so containerd never sees TaskExit
 * before TaskStart. The connection is made lazily on the first send and re-made once when containerd closed it (for
 * example after a containerd restart). {@link #close} waits at most 5 s for the queue to drain.
 */
public final class TtrpcEventPublisher implements EventPublisher {

    static final String SERVICE = "containerd.services.events.ttrpc.v1.Events";
    static final String METHOD = "Forward";
    static final String NAMESPACE_METADATA = "containerd-namespace-ttrpc";
    static final Duration CALL_TIMEOUT = Duration.ofSeconds(5);
    static final Duration DRAIN_TIMEOUT = Duration.ofSeconds(5);
    static final int RETRIES = 5;

    private static final System.Logger LOG = System.getLogger(TtrpcEventPublisher.class.getName());
    private static final Item STOP = new Item(null, null);

    /** Opens a connection to containerd; a test may point it elsewhere. */
    @FunctionalInterface
    interface Connector {
        Connection connect() throws IOException;
    }

    /** An event to forward, or (request null, sent set) a marker completed when the sender reaches it. */
    private record Item(String topic, ForwardRequest request, java.util.concurrent.CompletableFuture<Void> sent) {
        Item(String topic, ForwardRequest request) {
            this(topic, request, null);
        }
    }

    private final Connector connector;
    private final String namespace;
    private final Duration retryDelay;
    private final Clock clock;
    private final BlockingQueue<Item> queue = new LinkedBlockingQueue<>();
    private final Thread sender;
    private final AtomicInteger pending = new AtomicInteger();
    private volatile boolean closed;
    private TtrpcClient client; // touched only by the sender thread

    /** Publishes to the ttrpc socket containerd names in {@code TTRPC_ADDRESS}, for events of one namespace. */
    public TtrpcEventPublisher(Path ttrpcSocket, String namespace) {
        this(() -> UnixConnection.connect(ttrpcSocket), namespace, Duration.ofSeconds(1), Clock.systemUTC());
    }

    TtrpcEventPublisher(Connector connector, String namespace, Duration retryDelay, Clock clock) {
        this.connector = connector;
        this.namespace = namespace;
        this.retryDelay = retryDelay;
        this.clock = clock;
        this.sender = Thread.ofVirtual().name("event-publisher")
                .uncaughtExceptionHandler((t, e) -> LOG.log(Level.ERROR, "event publisher stopped", e))
                .start(this::run);
    }

    @Override
    public void publish(String topic, Message event) {
        if (closed) {
            LOG.log(Level.WARNING, "dropped event " + topic + " published after close");
            return;
        }
        ForwardRequest request = Envelopes.forward(namespace, topic, event, clock.instant());
        // One line per lifecycle step (create, start, exit, delete, ...): scripts/bench-skeleton.sh splits a
        // container's start-to-exit time with these timestamps.
        LOG.log(Level.INFO, "event " + topic + " " + TextFormat.shortDebugString(event));
        pending.incrementAndGet();
        queue.add(new Item(topic, request));
    }

    @Override
    public boolean awaitSent(Duration timeout) {
        if (closed) {
            return pending.get() == 0;
        }
        CompletableFuture<Void> sent = new CompletableFuture<>();
        queue.add(new Item("(marker)", null, sent));
        try {
            sent.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            return true;
        } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        queue.add(STOP);
        try {
            if (!sender.join(DRAIN_TIMEOUT)) {
                sender.interrupt();
                sender.join(Duration.ofSeconds(1));
                LOG.log(Level.WARNING, "event publisher did not drain in " + DRAIN_TIMEOUT.toSeconds() + " s: dropped "
                        + pending.get() + " event(s)");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            sender.interrupt();
        }
    }

    private void run() {
        try {
            while (true) {
                Item item = queue.take();
                if (item == STOP) {
                    return;
                }
                if (item.sent() != null) {
                    item.sent().complete(null);
                    continue;
                }
                try {
                    send(item);
                } finally {
                    pending.decrementAndGet();
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            closeClient();
        }
    }

    private void send(Item item) throws InterruptedException {
        Exception last = null;
        for (int attempt = 0; attempt <= RETRIES; attempt++) {
            if (attempt > 0) {
                TimeUnit.MILLISECONDS.sleep(retryDelay.toMillis() * attempt);
            }
            try {
                forward(item.request());
                return;
            } catch (IOException | RuntimeException e) {
                last = e;
                LOG.log(Level.DEBUG, "forward " + item.topic() + " failed (attempt " + (attempt + 1) + "): "
                        + e.getMessage());
            }
        }
        LOG.log(Level.WARNING, "dropped event " + item.topic() + " after " + (RETRIES + 1) + " attempts: "
                + (last == null ? "" : last.getMessage()));
    }

    /** One Forward; if containerd had closed the connection, one immediate reconnect and resend. */
    private void forward(ForwardRequest request) throws IOException {
        TtrpcClient c = client();
        try {
            call(c, request);
        } catch (RuntimeStatusException e) {
            if (e.code() != Code.UNAVAILABLE || !c.isClosed()) {
                throw e;
            }
            closeClient();
            call(client(), request);
        }
    }

    private void call(TtrpcClient c, ForwardRequest request) {
        c.call(SERVICE, METHOD, request, Empty.parser(), CALL_TIMEOUT, Map.of(NAMESPACE_METADATA, namespace));
    }

    private TtrpcClient client() throws IOException {
        if (client != null && client.isClosed()) {
            closeClient();
        }
        if (client == null) {
            client = new TtrpcClient(connector.connect());
        }
        return client;
    }

    private void closeClient() {
        if (client != null) {
            client.close();
            client = null;
        }
    }
}
