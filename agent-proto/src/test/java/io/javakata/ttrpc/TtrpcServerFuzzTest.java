package io.javakata.ttrpc;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import io.javakata.agent.v1.CheckResponse;
import io.javakata.ttrpc.proto.KeyValue;
import io.javakata.ttrpc.proto.Request;
import io.javakata.ttrpc.proto.Response;
import io.javakata.ttrpc.transport.PipeConnection;
import org.junit.jupiter.api.AfterAll;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * A real {@link TtrpcServer} over an in-memory pipe, fed a fuzzed sequence of frames: requests (well-formed or
 * not), frames of any type, even stream ids, an oversize header, then arbitrary trailing bytes. Checked against a
 * model of containerd/ttrpc's {@code server.go} and {@code services.go}: every request frame gets exactly the
 * status its content calls for (or DEADLINE_EXCEEDED when it carried a timeout), an echo comes back byte for
 * byte, nothing is answered twice or unasked, the server closes exactly when the protocol says so, and whatever
 * the trailing bytes are, the server answers with decodable Responses and then ends the connection once the client stops: no hang, no handler left
 * running.
 */
class TtrpcServerFuzzTest {

    private static final FuzzStats STATS = new FuzzStats(TtrpcServerFuzzTest.class, "answersEveryFrameSequence");
    private static final String SERVICE = "javakata.agent.v1.Agent";
    private static final List<String> METHODS = List.of("Echo", "Fail", "Boom", "Slow");
    /** How long one step may take: generous for a loaded 2-core machine, tiny next to a hang. */
    private static final Duration BOUND = Duration.ofSeconds(10);
    private static final Set<Code> ANY_ANSWER = EnumSet.of(Code.OK, Code.INVALID_ARGUMENT, Code.UNIMPLEMENTED,
            Code.DEADLINE_EXCEEDED, Code.RESOURCE_EXHAUSTED, Code.NOT_FOUND, Code.UNKNOWN);

    private final AtomicInteger handlersRunning = new AtomicInteger();

    @FuzzTest(maxDuration = "5s")
    void answersEveryFrameSequence(FuzzedDataProvider data) throws Exception {
        STATS.execution();
        TtrpcServer server = newServer();
        PipeConnection[] pair = PipeConnection.pair();
        Thread serving = Thread.ofVirtual().name("fuzz-serve").start(() -> server.serve(pair[1]));
        BlockingQueue<Object> received = new LinkedBlockingQueue<>();
        Thread reading = Thread.ofVirtual().name("fuzz-read").start(() -> readAll(pair[0], received));
        try {
            Model model = new Model();
            byte[] tail = sendFrames(data, pair[0], model);
            if (!model.awaitAnswers(received)) {
                if (tail.length > 0) {
                    write(pair[0], tail);
                }
                pair[0].output().close();
                drainUntilClosed(received);
            }
            assertTrue(serving.join(BOUND), "the server ends the connection once the client stopped");
            assertTrue(reading.join(BOUND), "the client sees the end of the connection");
            awaitNoHandlerRunning();
        } finally {
            server.close();
            pair[0].close();
        }
    }

    @AfterAll
    static void report() {
        STATS.report();
    }

    private TtrpcServer newServer() {
        TtrpcServer server = new TtrpcServer("fuzz");
        server.registerUnary(SERVICE, "Echo", CheckResponse.parser(), (ctx, q) -> q);
        server.registerUnary(SERVICE, "Fail", CheckResponse.parser(), (ctx, q) -> {
            throw Errors.notFound("nothing named %s", q.getVersion());
        });
        server.registerUnary(SERVICE, "Boom", CheckResponse.parser(), (ctx, q) -> {
            throw new IllegalStateException("boom");
        });
        server.registerUnary(SERVICE, "Slow", CheckResponse.parser(), (ctx, q) -> {
            handlersRunning.incrementAndGet();
            try {
                Thread.sleep(5);
                return q;
            } finally {
                handlersRunning.decrementAndGet();
            }
        });
        return server;
    }

    /**
     * Writes the fuzzed frames, recording in {@code model} what each should get; returns the trailing garbage
     * (written last, after the answers to everything before it arrived).
     */
    private static byte[] sendFrames(FuzzedDataProvider data, PipeConnection client, Model model) throws IOException {
        int frames = data.consumeInt(0, 12);
        for (int i = 0; i < frames && !model.closeExpected; i++) {
            switch (data.consumeInt(0, 3)) {
                case 0, 1 -> {
                    int streamId = data.consumeBoolean() ? model.nextOddId() : data.consumeInt();
                    sendFrame(client, model, new Frame(streamId, Frame.TYPE_REQUEST, data.consumeInt(0, 255),
                            request(data).toByteArray()));
                }
                case 2 -> sendFrame(client, model, new Frame(data.consumeInt(), data.consumeInt(0, 255),
                        data.consumeInt(0, 255), data.consumeBytes(512)));
                default -> {
                    long length = data.consumeLong(FrameCodec.MAX_DATA_LENGTH + 1L, 0xffff_ffffL);
                    int streamId = data.consumeInt();
                    write(client, ByteBuffer.allocate(FrameCodec.HEADER_LENGTH).putInt((int) length).putInt(streamId)
                            .put((byte) Frame.TYPE_REQUEST).put((byte) 0).array());
                    model.expectClose(streamId, Code.RESOURCE_EXHAUSTED);
                }
            }
        }
        return model.closeExpected ? new byte[0] : data.consumeRemainingAsBytes();
    }

    private static Request request(FuzzedDataProvider data) {
        Request.Builder request = Request.newBuilder()
                .setService(data.consumeBoolean() ? SERVICE : data.consumeString(40))
                .setMethod(data.consumeBoolean() ? METHODS.get(data.consumeInt(0, METHODS.size() - 1))
                        : data.consumeString(40))
                .setPayload(ByteString.copyFrom(data.consumeBytes(256)));
        switch (data.consumeInt(0, 3)) {
            case 0 -> request.setTimeoutNano(data.consumeLong());
            case 1 -> request.setTimeoutNano(data.consumeLong(1, TimeUnit.MILLISECONDS.toNanos(20)));
            default -> { } // no deadline: the answer must be the handler's own
        }
        int metadata = data.consumeInt(0, 3);
        for (int i = 0; i < metadata; i++) {
            request.addMetadata(KeyValue.newBuilder().setKey(data.consumeString(20)).setValue(data.consumeString(20)));
        }
        return request.build();
    }

    /** Writes one frame and records what the server must answer to it. */
    private static void sendFrame(PipeConnection client, Model model, Frame frame) throws IOException {
        write(client, FrameCodec.encode(frame));
        if (frame.type() != Frame.TYPE_REQUEST) {
            return; // ignored, not answered
        }
        if (!frame.clientInitiated()) {
            model.expect(frame.streamId(), EnumSet.of(Code.INVALID_ARGUMENT), null);
            return;
        }
        Request request;
        try {
            request = Request.parseFrom(frame.data());
        } catch (InvalidProtocolBufferException e) {
            model.expectClose(frame.streamId(), Code.INVALID_ARGUMENT);
            return;
        }
        Set<Code> codes = EnumSet.noneOf(Code.class);
        ByteString echo = null;
        if (!request.getService().equals(SERVICE) || !METHODS.contains(request.getMethod())) {
            codes.add(Code.UNIMPLEMENTED);
        } else {
            try {
                CheckResponse payload = CheckResponse.parseFrom(request.getPayload());
                switch (request.getMethod()) {
                    case "Fail" -> codes.add(Code.NOT_FOUND);
                    case "Boom" -> codes.add(Code.UNKNOWN);
                    default -> {
                        codes.add(Code.OK);
                        echo = payload.toByteString();
                    }
                }
            } catch (InvalidProtocolBufferException e) {
                codes.add(Code.INVALID_ARGUMENT);
            }
        }
        if (request.getTimeoutNano() > 0) {
            codes.add(Code.DEADLINE_EXCEEDED);
        }
        model.expect(frame.streamId(), codes, echo);
    }

    private static void write(PipeConnection client, byte[] bytes) throws IOException {
        client.output().write(bytes);
        client.output().flush();
    }

    /** Queues every frame the server sends, then the end of the stream (or the failure that ended it). */
    private static void readAll(PipeConnection client, BlockingQueue<Object> received) {
        try {
            for (Frame frame; (frame = FrameCodec.read(client.input())) != null; ) {
                received.add(frame);
            }
            received.add(End.CLEAN);
        } catch (IOException e) {
            received.add(e);
        }
    }

    /** After the trailing bytes: whatever still comes must be a decodable Response, then the end. */
    private static void drainUntilClosed(BlockingQueue<Object> received) throws Exception {
        while (true) {
            Object next = received.poll(BOUND.toMillis(), TimeUnit.MILLISECONDS);
            if (next == null) {
                fail("the server neither answered nor closed within " + BOUND);
            }
            if (next == End.CLEAN) {
                return;
            }
            if (next instanceof IOException e) {
                fail("the server's frames did not decode: " + e);
            }
            Response response = decode((Frame) next);
            Code code = Code.of(response.getStatus().getCode());
            assertTrue(ANY_ANSWER.contains(code), "unexpected status " + response.getStatus());
        }
    }

    private static Response decode(Frame frame) throws InvalidProtocolBufferException {
        assertEquals(Frame.TYPE_RESPONSE, frame.type(), "the server sends responses only: " + frame);
        assertEquals(0, frame.flags(), frame.toString());
        return Response.parseFrom(frame.data());
    }

    private void awaitNoHandlerRunning() throws InterruptedException {
        long deadline = System.nanoTime() + BOUND.toNanos();
        while (handlersRunning.get() > 0) {
            assertTrue(System.nanoTime() < deadline, handlersRunning.get() + " handler(s) still running");
            Thread.sleep(1);
        }
    }

    private enum End { CLEAN }

    /** The answers the frames sent so far call for, by stream id. */
    private static final class Model {

        private record Expected(Set<Code> codes, ByteString echo) {
        }

        /** The answer to the frame after which the server must close; calls still in flight may go unanswered. */
        private Expected closer;
        private boolean closerAnswered;

        private final Map<Integer, List<Expected>> pending = new HashMap<>();
        private int nextOdd = 1;
        private int count;
        boolean closeExpected;

        int nextOddId() {
            int id = nextOdd;
            nextOdd += 2;
            return id;
        }

        void expect(int streamId, Set<Code> codes, ByteString echo) {
            pending.computeIfAbsent(streamId, k -> new ArrayList<>()).add(new Expected(codes, echo));
            count++;
        }

        void expectClose(int streamId, Code code) {
            closer = new Expected(EnumSet.of(code), null);
            pending.computeIfAbsent(streamId, k -> new ArrayList<>()).add(closer);
            count++;
            closeExpected = true;
        }

        /**
         * Takes answers until every expected one came; the connection ends here only if the protocol says so.
         *
         * @return whether the connection ended
         */
        boolean awaitAnswers(BlockingQueue<Object> received) throws Exception {
            while (count > 0) {
                Object next = received.poll(BOUND.toMillis(), TimeUnit.MILLISECONDS);
                if (next == null) {
                    fail(count + " frame(s) unanswered after " + BOUND + ": " + pending);
                }
                if (!(next instanceof Frame frame)) {
                    if (closerAnswered) {
                        return true; // closing abandons the calls still running (TtrpcServer's contract)
                    }
                    fail("the connection ended with " + count + " answer(s) outstanding: " + pending + " (" + next
                            + ")");
                    return true;
                }
                match(frame);
            }
            if (closeExpected) {
                Object end = received.poll(BOUND.toMillis(), TimeUnit.MILLISECONDS);
                assertTrue(end == End.CLEAN || end instanceof IOException,
                        "after a protocol error the server closes, got " + end);
            }
            return closeExpected;
        }

        private void match(Frame frame) throws InvalidProtocolBufferException {
            Response response = decode(frame);
            Code code = Code.of(response.getStatus().getCode());
            List<Expected> candidates = pending.getOrDefault(frame.streamId(), List.of());
            for (Iterator<Expected> it = candidates.iterator(); it.hasNext(); ) {
                Expected expected = it.next();
                // A success carries no status and the echo as sent (stream ids may repeat: match on both).
                if (!expected.codes().contains(code)
                        || code == Code.OK && !(expected.echo().equals(response.getPayload()) && !response.hasStatus())) {
                    continue;
                }
                it.remove();
                count--;
                closerAnswered |= expected == closer;
                return;
            }
            fail("answer " + code + " \"" + response.getStatus().getMessage() + "\" on stream "
                    + Integer.toUnsignedString(frame.streamId()) + " matches no request: expected " + pending);
        }
    }
}
