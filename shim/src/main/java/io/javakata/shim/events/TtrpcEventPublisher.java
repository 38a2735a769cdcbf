package io.javakata.shim.events;

import com.google.protobuf.Empty;
import com.google.protobuf.Message;
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
import java.util.ArrayDeque;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Forwards task events to containerd's ttrpc {@code Events} service at {@code $TTRPC_ADDRESS}: one request per event,
 * 5 s timeout each, metadata {@code containerd-namespace-ttrpc}, as containerd's Go shim library does
 * (containerd {@code runtime/v2/shim/publisher.go}: {@code Events/Forward} on {@code TTRPC_ADDRESS}, 5 s per request,
 * requeued after 1 s × its retry count, dropped after 5). Unlike that library, an event outlives a containerd restart:
 *
 * <ul>
 *   <li>While containerd is unreachable (connect refused, the connection closed, no answer within the call's
 *       timeout), the event at the head of the queue is kept and retried with a growing delay (1 s × attempt, at most
 *       5 s), on a new connection each time, until containerd is back; the events behind it wait.</li>
 *   <li>An event containerd answers with an error status is retried {@value #RETRIES} times (the same delays), then
 *       logged and dropped, as the Go library does for every failure.</li>
 *   <li>At most {@value #CAPACITY} events wait. When the queue is full the newest event is refused, so that what
 *       containerd gets after an outage is the oldest, consistent part of the story (a TaskStart without its TaskExit
 *       rather than a TaskExit without its TaskStart); the refusals are counted and logged once per burst.</li>
 * </ul>
 *
 * <p>Thread-safety and blocking: {@link #publish} may be called from any thread and never blocks on the network; it
 * queues. One virtual thread sends in publish order and removes an event only once it is delivered or given up, so
 * containerd never sees TaskExit before TaskStart. Delivery is at least once: an event whose answer was lost with the
 * connection is sent again. {@link #close} waits at most {@link #DRAIN_TIMEOUT} for the queue to drain, then logs how
 * many events are lost.
 */
public final class TtrpcEventPublisher implements EventPublisher {

    static final String SERVICE = "containerd.services.events.ttrpc.v1.Events";
    static final String METHOD = "Forward";
    static final String NAMESPACE_METADATA = "containerd-namespace-ttrpc";
    static final Duration CALL_TIMEOUT = Duration.ofSeconds(5);
    static final Duration DRAIN_TIMEOUT = Duration.ofSeconds(5);
    /** Retries of an event containerd answered with an error status (the Go library's maxRequeue). */
    static final int RETRIES = 5;
    /**
     * Events that may wait for containerd. A pod's lifecycle publishes a handful per container and exec, so this holds
     * the events of minutes of busy work; the Go library's retry channel holds 2048 (containerd
     * {@code runtime/v2/shim/publisher.go}, {@code queueSize}).
     */
    static final int CAPACITY = 1024;
    /** The delay before a retry is the base delay × the attempt, at most this many times the base delay. */
    static final int MAX_DELAY_FACTOR = 5;

    private static final System.Logger LOG = System.getLogger(TtrpcEventPublisher.class.getName());

    /** Opens a connection to containerd; a test may point it elsewhere. */
    @FunctionalInterface
    interface Connector {
        Connection connect() throws IOException;
    }

    /** An accepted event and its place in publish order (1, 2, 3, ...). */
    private record Item(long sequence, String topic, ForwardRequest request) {
    }

    private final Connector connector;
    private final String namespace;
    private final Duration retryDelay;
    private final Clock clock;
    private final Thread sender;

    private final ReentrantLock lock = new ReentrantLock();
    /** Signalled when an event is queued or finished, and on close. */
    private final Condition changed = lock.newCondition();
    /** Guarded by lock; the head is the event being sent, removed once delivered or given up. */
    private final ArrayDeque<Item> queue = new ArrayDeque<>();
    private long published; // guarded by lock: sequence of the newest accepted event
    private long finished; // guarded by lock: sequence of the newest event delivered or given up
    private long refused; // guarded by lock: events refused since the queue was last accepting
    private boolean closed; // guarded by lock

    private TtrpcClient client; // touched only by the sender thread
    private boolean unreachable; // touched only by the sender thread: containerd was unreachable on the last attempt

    /** Publishes to the ttrpc socket containerd names in {@code TTRPC_ADDRESS}, for events of one namespace. */
    public TtrpcEventPublisher(Path ttrpcSocket, String namespace) {
        this(() -> UnixConnection.connect(ttrpcSocket), namespace, Duration.ofSeconds(1), Clock.systemUTC());
    }

    /** {@code retryDelay} is the base delay between attempts; {@code clock} stamps the envelopes. */
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
        ForwardRequest request = Envelopes.forward(namespace, topic, event, clock.instant());
        String refusal = null;
        boolean accepted = false;
        long burst = 0;
        lock.lock();
        try {
            if (closed) {
                refusal = "dropped event " + topic + " published after close";
            } else if (queue.size() >= CAPACITY) {
                if (refused++ == 0) {
                    refusal = "event queue full (" + CAPACITY + " events wait for containerd): dropping " + topic
                            + " and every newer event until it takes some";
                }
            } else {
                burst = refused;
                refused = 0;
                queue.addLast(new Item(++published, topic, request));
                accepted = true;
                changed.signalAll();
            }
        } finally {
            lock.unlock();
        }
        if (refusal != null) {
            LOG.log(Level.WARNING, refusal);
        }
        if (burst > 0) {
            LOG.log(Level.WARNING, "dropped " + burst + " event(s) while the event queue was full");
        }
        if (accepted) {
            // One line per lifecycle step (create, start, exit, delete, ...): scripts/bench-skeleton.sh splits a
            // container's start-to-exit time with these timestamps.
            LOG.log(Level.INFO, "event " + topic + " " + EventText.of(event));
        }
    }

    @Override
    public boolean awaitSent(Duration timeout) {
        long remaining = timeout.toNanos();
        lock.lock();
        try {
            long target = published;
            while (finished < target) {
                if (closed || remaining <= 0) {
                    return false;
                }
                remaining = changed.awaitNanos(remaining);
            }
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } finally {
            lock.unlock();
        }
    }

    /** Sends what is queued, waiting at most {@link #DRAIN_TIMEOUT} (also while containerd is unreachable). */
    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        try {
            if (!sender.join(DRAIN_TIMEOUT)) {
                sender.interrupt();
                sender.join(Duration.ofSeconds(1));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            sender.interrupt();
        }
        long lost;
        long burst;
        lock.lock();
        try {
            lost = queue.size();
            burst = refused;
        } finally {
            lock.unlock();
        }
        if (lost > 0) {
            LOG.log(Level.WARNING, "event publisher did not drain in " + DRAIN_TIMEOUT.toSeconds() + " s: lost "
                    + lost + " event(s)");
        }
        if (burst > 0) {
            LOG.log(Level.WARNING, "dropped " + burst + " event(s) while the event queue was full");
        }
    }

    private void run() {
        try {
            Item item;
            while ((item = next()) != null) {
                deliver(item);
                lock.lock();
                try {
                    queue.removeFirst();
                    finished = item.sequence();
                    changed.signalAll();
                } finally {
                    lock.unlock();
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            closeClient();
        }
    }

    /** The event at the head of the queue, left there; null once closed and drained. */
    private Item next() throws InterruptedException {
        lock.lock();
        try {
            while (queue.isEmpty() && !closed) {
                changed.await();
            }
            return queue.peekFirst();
        } finally {
            lock.unlock();
        }
    }

    /** Returns once containerd took the event, or gave it {@value #RETRIES} error answers after the first. */
    private void deliver(Item item) throws InterruptedException {
        int answered = 0;
        for (int attempt = 1; ; attempt++) {
            String failure;
            try {
                forward(item.request());
                if (unreachable) {
                    unreachable = false;
                    LOG.log(Level.INFO, "containerd takes events again: " + item.topic() + " sent after " + attempt
                            + " attempt(s)");
                }
                return;
            } catch (IOException e) {
                failure = e.getMessage();
                noAnswer(item, e.getMessage());
            } catch (RuntimeStatusException e) {
                failure = e.getMessage();
                if (isAnswer(e)) {
                    answered++;
                } else {
                    noAnswer(item, e.getMessage());
                }
            }
            if (Thread.currentThread().isInterrupted()) {
                throw new InterruptedException("event publisher interrupted while sending " + item.topic());
            }
            if (answered > RETRIES) {
                LOG.log(Level.WARNING, "dropped event " + item.topic() + " after " + answered
                        + " error answers from containerd: " + failure);
                return;
            }
            LOG.log(Level.DEBUG, "forward " + item.topic() + " failed (attempt " + attempt + "): " + failure);
            TimeUnit.MILLISECONDS.sleep(retryDelay.toMillis() * Math.min(attempt, MAX_DELAY_FACTOR));
        }
    }

    /**
     * Whether containerd answered the call with an error, as opposed to not answering: the client reports a closed
     * connection as UNAVAILABLE and its own timeout as DEADLINE_EXCEEDED. containerd's Events service answers neither
     * (it validates and hands the envelope to its exchange), and a DEADLINE_EXCEEDED it did send would mean the same
     * thing: it cannot take events right now.
     */
    private boolean isAnswer(RuntimeStatusException e) {
        return e.code() != Code.UNAVAILABLE && e.code() != Code.DEADLINE_EXCEEDED && e.code() != Code.CANCELLED;
    }

    /** containerd is unreachable: the next attempt reconnects; the first failure of an outage is logged. */
    private void noAnswer(Item item, String message) {
        closeClient();
        if (!unreachable) {
            unreachable = true;
            long maxDelay = retryDelay.toMillis() * MAX_DELAY_FACTOR;
            LOG.log(Level.WARNING, "containerd unreachable (" + message + "): keeping " + queuedEvents()
                    + " event(s) from " + item.topic() + " on, retrying every " + maxDelay
                    + " ms at most until it is back");
        }
    }

    private int queuedEvents() {
        lock.lock();
        try {
            return queue.size();
        } finally {
            lock.unlock();
        }
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
