package io.javakata.ttrpc;

import io.javakata.agent.v1.CheckRequest;
import io.javakata.agent.v1.CheckResponse;
import io.javakata.ttrpc.proto.Request;
import io.javakata.ttrpc.transport.Connection;
import io.javakata.ttrpc.transport.PipeConnection;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Client behaviour against a hand-driven fake server on an in-memory pipe. */
@Timeout(30)
class TtrpcClientTest {

    static final String AGENT = TtrpcContract.AGENT;
    static final Duration T = TtrpcContract.T;

    @Test
    void clientUsesOddIdsAndDropsAnswersForUnknownStreams() throws Exception {
        Connection[] pair = PipeConnection.pair();
        try (TtrpcClient client = new TtrpcClient(pair[0]); RawPeer fake = new RawPeer(pair[1])) {
            CompletableFuture<CheckResponse> first = client.callAsync(AGENT, "Check", CheckRequest.getDefaultInstance(),
                    CheckResponse.parser(), T);
            CompletableFuture<CheckResponse> second = client.callAsync(AGENT, "Check",
                    CheckRequest.getDefaultInstance(), CheckResponse.parser(), T);
            Frame a = fake.next();
            Frame b = fake.next();
            assertEquals(List.of(1, 3), List.of(a.streamId(), b.streamId()));
            assertEquals(T.toNanos(), Request.parseFrom(a.data()).getTimeoutNano());
            fake.reply(99, CheckResponse.newBuilder().setVersion("stray").build());
            fake.reply(3, CheckResponse.newBuilder().setVersion("three").build());
            fake.reply(1, CheckResponse.newBuilder().setVersion("one").build());
            assertEquals("one", first.get(5, TimeUnit.SECONDS).getVersion());
            assertEquals("three", second.get(5, TimeUnit.SECONDS).getVersion());
            assertFalse(client.isClosed(), "an answer for an unknown stream is dropped, not fatal");
        }
    }

    @Test
    void clientEnforcesItsOwnTimeout() throws Exception {
        Connection[] pair = PipeConnection.pair();
        try (TtrpcClient client = new TtrpcClient(pair[0]); RawPeer silent = new RawPeer(pair[1])) {
            RuntimeStatusException e = assertThrows(RuntimeStatusException.class, () -> client.call(AGENT, "Check",
                    CheckRequest.getDefaultInstance(), CheckResponse.parser(), Duration.ofMillis(100)));
            assertEquals(Code.DEADLINE_EXCEEDED, e.code());
            assertEquals(1, silent.next().streamId(), "the request went out before the deadline");
        }
    }

    @Test
    void oversizeRequestFailsLocally() {
        Connection[] pair = PipeConnection.pair();
        try (TtrpcClient client = new TtrpcClient(pair[0])) {
            var big = io.javakata.agent.v1.WriteStreamRequest.newBuilder()
                    .setData(com.google.protobuf.ByteString.copyFrom(new byte[FrameCodec.MAX_DATA_LENGTH])).build();
            RuntimeStatusException e = assertThrows(RuntimeStatusException.class, () -> client.call(AGENT,
                    "WriteStdin", big, CheckResponse.parser(), T));
            assertEquals(Code.RESOURCE_EXHAUSTED, e.code());
            assertFalse(client.isClosed());
        }
    }
}
