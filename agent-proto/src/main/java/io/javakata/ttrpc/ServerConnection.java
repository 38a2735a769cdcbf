package io.javakata.ttrpc;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import io.javakata.ttrpc.proto.KeyValue;
import io.javakata.ttrpc.proto.Request;
import io.javakata.ttrpc.proto.Response;
import io.javakata.ttrpc.proto.Status;
import io.javakata.ttrpc.transport.Connection;

import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One connection a {@link TtrpcServer} serves: the read loop, and the calls in flight on it. The read loop
 * runs on the thread that called {@code serve}; each request runs on its own virtual thread. A request
 * beyond the server's in-flight bound is answered RESOURCE_EXHAUSTED at once, without a thread, so a peer
 * that floods requests costs at most that many handler threads (and, if it never reads the answers, blocks
 * only its own read loop on the full socket).
 */
final class ServerConnection {

    private static final System.Logger LOG = System.getLogger(ServerConnection.class.getName());

    private final TtrpcServer server;
    private final Connection connection;
    private final FrameWriter writer;
    private final Map<Integer, ServerCall> calls = new ConcurrentHashMap<>();
    private volatile boolean closed;
    /** Requests refused for the in-flight bound; read loop only. */
    private int refused;

    ServerConnection(TtrpcServer server, Connection connection) {
        this.server = server;
        this.connection = connection;
        this.writer = new FrameWriter(connection);
    }

    /** Reads frames until the connection ends or breaks the protocol. */
    void run() {
        try {
            Frame frame;
            while (!closed && (frame = FrameCodec.read(connection.input())) != null) {
                if (!accept(frame)) {
                    return;
                }
            }
        } catch (FrameCodec.OversizeFrameException e) {
            LOG.log(System.Logger.Level.WARNING, "{0}: {1}; closing", connection.describe(), e.getMessage());
            send(e.streamId(), Response.newBuilder()
                    .setStatus(Statuses.status(Code.RESOURCE_EXHAUSTED, e.getMessage())).build());
        } catch (IOException e) {
            if (!closed) {
                LOG.log(System.Logger.Level.DEBUG, "{0}: read ended: {1}", connection.describe(), e.toString());
            }
        }
    }

    /** Handles one frame; false when the connection must close. */
    private boolean accept(Frame frame) {
        if (frame.type() != Frame.TYPE_REQUEST) {
            LOG.log(System.Logger.Level.DEBUG, "{0}: ignoring {1}", connection.describe(), frame);
            return true;
        }
        if (!frame.clientInitiated()) {
            sendError(frame.streamId(), Code.INVALID_ARGUMENT, "StreamID must be odd for client initiated streams");
            return true;
        }
        Request request;
        try {
            request = Request.parseFrom(frame.data());
        } catch (InvalidProtocolBufferException e) {
            sendError(frame.streamId(), Code.INVALID_ARGUMENT, "unmarshal request error: " + e.getMessage());
            LOG.log(System.Logger.Level.WARNING, "{0}: unparsable request; closing", connection.describe());
            return false;
        }
        // Only this loop adds calls, so the size cannot grow between the check and the put.
        if (calls.size() >= server.maxInFlightPerConnection()) {
            refused++;
            if (refused == 1 || Integer.bitCount(refused) == 1) {
                LOG.log(System.Logger.Level.WARNING, "{0}: {1} requests already in flight; refused {2} so far with "
                        + "RESOURCE_EXHAUSTED", connection.describe(), calls.size(), refused);
            }
            sendError(frame.streamId(), Code.RESOURCE_EXHAUSTED, request.getService() + "/" + request.getMethod()
                    + ": " + calls.size() + " requests already in flight on this connection, the most it may have");
            return true;
        }
        ServerCall call = new ServerCall(this, frame.streamId(), request.getService(), request.getMethod());
        calls.put(frame.streamId(), call);
        call.start(() -> execute(call, request), request.getTimeoutNano());
        return true;
    }

    /** Runs on the call's own virtual thread. */
    private void execute(ServerCall call, Request request) {
        long started = System.nanoTime();
        Response response;
        try {
            TtrpcServer.Method<?> method = server.method(request.getService(), request.getMethod());
            if (method == null) {
                throw server.hasService(request.getService())
                        ? Errors.unimplemented("method %s", request.getMethod())
                        : Errors.unimplemented("service %s", request.getService());
            }
            Message result = method.invoke(context(request), request.getPayload().toByteArray());
            ByteString payload = result == null ? ByteString.EMPTY : result.toByteString();
            response = Response.newBuilder().setPayload(payload).build();
        } catch (Throwable t) {
            if (!call.isOpen()) {
                return;
            }
            Status status = Statuses.toStatus(t, request.getService() + "/" + request.getMethod());
            response = Response.newBuilder().setStatus(status).build();
        }
        call.finish(response);
        if (LOG.isLoggable(System.Logger.Level.DEBUG)) {
            LOG.log(System.Logger.Level.DEBUG, "{0}: {1}/{2} answered in {3} ms{4}", connection.describe(),
                    request.getService(), request.getMethod(), (System.nanoTime() - started) / 1_000_000,
                    response.hasStatus() ? " with code " + response.getStatus().getCode() : "");
        }
    }

    private static CallContext context(Request request) {
        Map<String, List<String>> metadata = new LinkedHashMap<>();
        for (KeyValue kv : request.getMetadataList()) {
            metadata.computeIfAbsent(kv.getKey().toLowerCase(Locale.ROOT), k -> new ArrayList<>()).add(kv.getValue());
        }
        metadata.replaceAll((k, v) -> List.copyOf(v));
        Optional<Instant> deadline = request.getTimeoutNano() > 0
                ? Optional.of(Instant.now().plus(Duration.ofNanos(request.getTimeoutNano())))
                : Optional.empty();
        return new CallContext(request.getService(), request.getMethod(), metadata, deadline);
    }

    void forget(int streamId) {
        calls.remove(streamId);
    }

    String threadName(String method) {
        return "ttrpc-" + server.name() + "-" + method;
    }

    void sendError(int streamId, Code code, String message) {
        send(streamId, Response.newBuilder().setStatus(Statuses.status(code, message)).build());
    }

    void send(int streamId, Response response) {
        if (closed) {
            return;
        }
        try {
            writer.write(new Frame(streamId, Frame.TYPE_RESPONSE, 0, response.toByteArray()));
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "{0}: write failed: {1}; closing", connection.describe(), e.toString());
            close();
        }
    }

    /** Closes the connection and abandons its calls: their handlers are interrupted, their results dropped. */
    void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            connection.close();
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "{0}: close: {1}", connection.describe(), e.toString());
        }
        for (ServerCall call : calls.values()) {
            call.abandon();
        }
    }
}
