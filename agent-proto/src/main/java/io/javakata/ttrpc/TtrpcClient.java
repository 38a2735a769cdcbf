package io.javakata.ttrpc;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.Parser;
import io.javakata.ttrpc.proto.KeyValue;
import io.javakata.ttrpc.proto.Request;
import io.javakata.ttrpc.proto.Response;
import io.javakata.ttrpc.transport.Connection;

import java.io.IOException;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A ttrpc v1.1 client on one connection: unary calls multiplexed on odd stream ids 1, 3, 5, … with one
 * reader thread that hands each response to its caller (containerd/ttrpc {@code client.go}).
 *
 * <p>Thread-safe: any number of threads may call at once. {@link #call} blocks until the answer, the
 * timeout (sent as {@code timeout_nano} and also enforced here: DEADLINE_EXCEEDED) or the connection's
 * end (every pending call fails with UNAVAILABLE). A non-OK status becomes a
 * {@link RuntimeStatusException} with the same code and message; futures from {@link #callAsync} complete
 * exceptionally with that exception itself.
 *
 * <p>At most {@code maxInFlight} calls wait for an answer at once: a call beyond that fails at once with
 * RESOURCE_EXHAUSTED, before anything is sent. A peer that never answers (a hostile guest) thus cannot
 * make this side hold an unbounded number of waiting calls, and the threads of callers that wait
 * without a deadline stay bounded too; a slot frees when its call is answered, times out, is cancelled
 * or the connection ends.
 */
public final class TtrpcClient implements AutoCloseable {

    /**
     * The default bound on calls waiting at once. The shim holds a few blocking calls per process (wait,
     * stdout, stderr, stdin) and two per forwarded connection, so a pod needs far fewer than this.
     */
    public static final int DEFAULT_MAX_IN_FLIGHT = 1024;

    private static final System.Logger LOG = System.getLogger(TtrpcClient.class.getName());

    private final Connection connection;
    private final FrameWriter writer;
    private final AtomicInteger nextStreamId = new AtomicInteger(1);
    private final Map<Integer, CompletableFuture<Response>> pending = new ConcurrentHashMap<>();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final CompletableFuture<Void> closeFuture = new CompletableFuture<>();
    private final int maxInFlight;
    private final Semaphore inFlight;

    /** Takes ownership of {@code connection} and starts reading from it; {@link #DEFAULT_MAX_IN_FLIGHT} calls. */
    public TtrpcClient(Connection connection) {
        this(connection, DEFAULT_MAX_IN_FLIGHT);
    }

    /** Takes ownership of {@code connection} and starts reading from it; at most {@code maxInFlight} calls wait. */
    public TtrpcClient(Connection connection, int maxInFlight) {
        if (maxInFlight < 1) {
            throw new IllegalArgumentException("maxInFlight must be positive: " + maxInFlight);
        }
        this.connection = connection;
        this.writer = new FrameWriter(connection);
        this.maxInFlight = maxInFlight;
        this.inFlight = new Semaphore(maxInFlight);
        Threads.startVirtual("ttrpc-client-reader", this::readLoop);
    }

    /** A blocking call without metadata; {@code timeout} null or zero means none. */
    public <R extends Message> R call(String service, String method, Message request, Parser<R> responseParser,
                                      Duration timeout) {
        return call(service, method, request, responseParser, timeout, Map.of());
    }

    /** A blocking call; an interrupt fails it with CANCELLED and keeps the thread's interrupt status. */
    public <R extends Message> R call(String service, String method, Message request, Parser<R> responseParser,
                                      Duration timeout, Map<String, String> metadata) {
        CompletableFuture<R> future = start(service, method, request, responseParser, timeout, metadata);
        try {
            return future.get();
        } catch (InterruptedException e) {
            future.cancel(false);
            Thread.currentThread().interrupt();
            throw Errors.cancelled("%s/%s: interrupted", service, method);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeStatusException status) {
                throw new RuntimeStatusException(status.code(), status.getMessage(), status);
            }
            throw Errors.internal("%s/%s: %s", service, method, e.getCause());
        }
    }

    /** The same call without blocking; the future fails with a {@link RuntimeStatusException}. */
    public <R extends Message> CompletableFuture<R> callAsync(String service, String method, Message request,
                                                              Parser<R> responseParser, Duration timeout) {
        return start(service, method, request, responseParser, timeout, Map.of());
    }

    public boolean isClosed() {
        return closed.get();
    }

    /** Completes once the connection has ended, whoever ended it. */
    public CompletableFuture<Void> onClose() {
        return closeFuture;
    }

    /** Closes the connection; pending calls fail with UNAVAILABLE. Idempotent. */
    @Override
    public void close() {
        shutdown("closed by client");
    }

    private <R extends Message> CompletableFuture<R> start(String service, String method, Message request,
                                                           Parser<R> parser, Duration timeout,
                                                           Map<String, String> metadata) {
        String call = service + "/" + method;
        boolean timed = timeout != null && timeout.isPositive();
        Request.Builder builder = Request.newBuilder().setService(service).setMethod(method)
                .setPayload(request.toByteString());
        if (timed) {
            builder.setTimeoutNano(saturatedNanos(timeout));
        }
        metadata.forEach((k, v) -> builder.addMetadata(KeyValue.newBuilder().setKey(k).setValue(v)));
        byte[] data = builder.build().toByteArray();
        if (data.length > FrameCodec.MAX_DATA_LENGTH) {
            return CompletableFuture.failedFuture(Errors.resourceExhausted(
                    "%s: request length %d exceeds the maximum message size of %d", call, data.length,
                    FrameCodec.MAX_DATA_LENGTH));
        }
        if (!inFlight.tryAcquire()) {
            return CompletableFuture.failedFuture(Errors.resourceExhausted(
                    "%s: %d calls on %s already wait for an answer, the most one connection may hold", call,
                    maxInFlight, connection.describe()));
        }
        int streamId = nextStreamId.getAndAdd(2);
        CompletableFuture<Response> response = new CompletableFuture<>();
        pending.put(streamId, response);
        if (closed.get()) {
            pending.remove(streamId);
            inFlight.release();
            return CompletableFuture.failedFuture(unavailable());
        }
        response.whenComplete((r, e) -> {
            pending.remove(streamId);
            inFlight.release();
        });
        if (timed) {
            response.orTimeout(saturatedNanos(timeout), TimeUnit.NANOSECONDS);
        }
        try {
            writer.write(new Frame(streamId, Frame.TYPE_REQUEST, 0, data));
        } catch (IOException e) {
            shutdown("write failed: " + e.getMessage());
        }
        CompletableFuture<R> result = new CompletableFuture<>();
        response.whenComplete((r, e) -> {
            try {
                result.complete(decode(call, r, e, parser, timeout));
            } catch (RuntimeStatusException failure) {
                result.completeExceptionally(failure);
            }
        });
        // A caller that gives up (cancel, interrupt) frees the stream at once.
        result.whenComplete((r, e) -> response.cancel(false));
        return result;
    }

    private <R extends Message> R decode(String call, Response response, Throwable failure, Parser<R> parser,
                                         Duration timeout) {
        if (failure instanceof TimeoutException) {
            throw Errors.deadlineExceeded("%s: no answer within %s", call, timeout);
        }
        if (failure instanceof CancellationException) {
            throw Errors.cancelled("%s: cancelled", call);
        }
        if (failure instanceof RuntimeStatusException e) {
            throw e;
        }
        if (failure != null) {
            throw Errors.internal("%s: %s", call, failure);
        }
        if (response.hasStatus() && response.getStatus().getCode() != Code.OK.value()) {
            throw Statuses.fromStatus(response.getStatus());
        }
        try {
            return parser.parseFrom(response.getPayload());
        } catch (InvalidProtocolBufferException e) {
            throw Errors.internal("%s: unmarshal response: %s", call, e.getMessage());
        }
    }

    private void readLoop() {
        String reason = "end of stream";
        try {
            Frame frame;
            while ((frame = FrameCodec.read(connection.input())) != null) {
                dispatch(frame);
            }
        } catch (IOException e) {
            reason = e.getMessage();
        } finally {
            shutdown(reason);
        }
    }

    private void dispatch(Frame frame) {
        if (frame.type() != Frame.TYPE_RESPONSE) {
            LOG.log(System.Logger.Level.DEBUG, "{0}: ignoring {1}", connection.describe(), frame);
            return;
        }
        CompletableFuture<Response> waiter = pending.get(frame.streamId());
        if (waiter == null) {
            LOG.log(System.Logger.Level.WARNING, "{0}: received message for unknown stream {1}; dropped",
                    connection.describe(), Integer.toUnsignedString(frame.streamId()));
            return;
        }
        try {
            waiter.complete(Response.parseFrom(frame.data()));
        } catch (InvalidProtocolBufferException e) {
            waiter.completeExceptionally(Errors.internal("unmarshal response: %s", e.getMessage()));
        }
    }

    private void shutdown(String reason) {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        LOG.log(System.Logger.Level.DEBUG, "{0}: client closing: {1}", connection.describe(), reason);
        try {
            connection.close();
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "{0}: close: {1}", connection.describe(), e.toString());
        }
        for (CompletableFuture<Response> waiter : pending.values()) {
            waiter.completeExceptionally(unavailable());
        }
        closeFuture.complete(null);
    }

    private RuntimeStatusException unavailable() {
        return Errors.unavailable("connection to %s closed", connection.describe());
    }

    private static long saturatedNanos(Duration d) {
        try {
            return d.toNanos();
        } catch (ArithmeticException e) {
            return Long.MAX_VALUE;
        }
    }
}
