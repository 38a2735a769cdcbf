package io.javakata.ttrpc;

import com.google.protobuf.ByteString;
import io.javakata.ttrpc.proto.Request;
import io.javakata.ttrpc.proto.Response;
import io.javakata.ttrpc.transport.Connection;
import java.io.IOException;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A ttrpc client for fuzz targets: sends any bytes as a request's payload under any method name (TtrpcClient
 * takes only messages), and fails a call that gets no answer within a bound instead of waiting forever.
 */
public final class RawCaller implements AutoCloseable {

    private final Connection connection;
    private final Map<Integer, CompletableFuture<Response>> calls = new ConcurrentHashMap<>();
    private final Thread reader;
    private int nextStreamId = 1;
    private volatile IOException ended;

    public RawCaller(Connection connection) {
        this.connection = connection;
        this.reader = Thread.ofVirtual().name("fuzz-caller").start(this::readResponses);
    }

    /**
     * @param deadline the request's timeout_nano (zero: none)
     * @return the server's answer
     * @throws TimeoutException if none came within {@code bound}: the server hangs
     */
    public Response call(String service, String method, byte[] payload, Duration deadline, Duration bound)
            throws IOException, InterruptedException, TimeoutException {
        CompletableFuture<Response> answer = new CompletableFuture<>();
        Frame frame;
        synchronized (this) {
            int streamId = nextStreamId;
            nextStreamId += 2;
            calls.put(streamId, answer);
            if (ended != null) {
                throw new IOException("no answer to " + method + ": " + ended.getMessage(), ended);
            }
            frame = new Frame(streamId, Frame.TYPE_REQUEST, 0, Request.newBuilder().setService(service)
                    .setMethod(method).setPayload(ByteString.copyFrom(payload)).setTimeoutNano(deadline.toNanos())
                    .build().toByteArray());
            FrameCodec.write(connection.output(), frame);
        }
        try {
            return answer.get(bound.toMillis(), TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IOException("no answer to " + method + ": " + e.getCause(), e.getCause());
        }
    }

    private void readResponses() {
        IOException end = new IOException("the server closed the connection");
        try {
            for (Frame frame; (frame = FrameCodec.read(connection.input())) != null; ) {
                CompletableFuture<Response> call = calls.remove(frame.streamId());
                if (frame.type() != Frame.TYPE_RESPONSE || call == null) {
                    end = new IOException("unasked frame from the server: " + frame);
                    break;
                }
                call.complete(Response.parseFrom(frame.data()));
            }
        } catch (IOException e) {
            end = e;
        }
        ended = end;
        for (CompletableFuture<Response> call : calls.values()) {
            call.completeExceptionally(end);
        }
    }

    @Override
    public void close() throws IOException {
        connection.close();
        try {
            reader.join(Duration.ofSeconds(5));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
