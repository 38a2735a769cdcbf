package io.javakata.ttrpc;

import io.javakata.agent.v1.CheckRequest;
import io.javakata.agent.v1.CheckResponse;
import io.javakata.ttrpc.proto.Request;
import io.javakata.ttrpc.proto.Response;
import io.javakata.ttrpc.transport.Connection;
import io.javakata.ttrpc.transport.PipeConnection;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The bounds on calls in flight per connection, against peers that never answer. */
@Timeout(30)
class InFlightBoundTest {

    private static final String AGENT = TtrpcContract.AGENT;
    private static final int BOUND = 8;

    private static CompletableFuture<CheckResponse> check(TtrpcClient client, Duration timeout) {
        return client.callAsync(AGENT, "Check", CheckRequest.getDefaultInstance(), CheckResponse.parser(), timeout);
    }

    private static Code codeOf(CompletableFuture<?> failed) {
        ExecutionException e = assertThrows(ExecutionException.class, () -> failed.get(5, TimeUnit.SECONDS));
        return assertInstanceOf(RuntimeStatusException.class, e.getCause()).code();
    }

    @Test
    void theClientFailsTheCallBeyondItsBoundAtOnceAndNeverSendsIt() throws Exception {
        Connection[] pair = PipeConnection.pair();
        try (TtrpcClient client = new TtrpcClient(pair[0], BOUND); RawPeer silent = new RawPeer(pair[1])) {
            List<CompletableFuture<CheckResponse>> waiting = new ArrayList<>();
            for (int i = 0; i < BOUND; i++) {
                waiting.add(check(client, null));
            }
            for (int i = 0; i < BOUND; i++) {
                assertEquals(2 * i + 1, silent.next().streamId());
            }
            // A flood beyond the bound: each call fails before it is sent, without waiting for anything.
            long started = System.nanoTime();
            for (int i = 0; i < 10_000; i++) {
                CompletableFuture<CheckResponse> refused = check(client, null);
                assertTrue(refused.isCompletedExceptionally(), "call " + i + " beyond the bound is not pending");
            }
            assertTrue(System.nanoTime() - started < TimeUnit.SECONDS.toNanos(5), "the refusals were immediate");
            RuntimeStatusException blocking = assertThrows(RuntimeStatusException.class, () -> client.call(AGENT,
                    "Check", CheckRequest.getDefaultInstance(), CheckResponse.parser(), null));
            assertEquals(Code.RESOURCE_EXHAUSTED, blocking.code());
            assertTrue(blocking.getMessage().contains(BOUND + " calls"), blocking.getMessage());
            assertFalse(client.isClosed(), "refusing a call does not end the connection");

            // A call that gives up frees its slot; so does one whose deadline passes.
            waiting.get(0).cancel(false);
            CompletableFuture<CheckResponse> timed = check(client, Duration.ofMillis(200));
            assertEquals(2 * BOUND + 1, silent.next().streamId(), "the freed slot carried the next call out");
            assertEquals(Code.RESOURCE_EXHAUSTED, codeOf(check(client, null)));
            assertEquals(Code.DEADLINE_EXCEEDED, codeOf(timed));
            CompletableFuture<CheckResponse> answered = check(client, null);
            int id = silent.next().streamId();
            silent.reply(id, CheckResponse.newBuilder().setVersion("late").build());
            assertEquals("late", answered.get(5, TimeUnit.SECONDS).getVersion());
            client.close();
            assertEquals(Code.UNAVAILABLE, codeOf(waiting.get(1)), "closing fails the calls still waiting");
        }
    }

    @Test
    void theServerAnswersRequestsBeyondItsBoundWithResourceExhaustedWithoutRunningThem() throws Exception {
        AtomicInteger running = new AtomicInteger();
        CountDownLatch allRunning = new CountDownLatch(BOUND);
        try (TtrpcServer server = new TtrpcServer("bounded", BOUND)) {
            server.registerUnary(AGENT, "Block", CheckRequest.parser(), (ctx, q) -> {
                running.incrementAndGet();
                allRunning.countDown();
                new CompletableFuture<Void>().get(); // never answers; the deadline interrupts it
                return null;
            });
            server.registerUnary(AGENT, "Check", CheckRequest.parser(), (ctx, q) -> CheckResponse.getDefaultInstance());
            PipeConnection[] pair = PipeConnection.pair();
            Thread.ofVirtual().start(() -> server.serve(pair[1]));
            try (RawPeer client = new RawPeer(pair[0])) {
                // The first BOUND carry a deadline, so that their slots free later; the rest never run.
                Request block = Request.newBuilder().setService(AGENT).setMethod("Block").build();
                for (int i = 0; i < BOUND; i++) {
                    client.send(2 * i + 1, block.toBuilder().setTimeoutNano(TimeUnit.SECONDS.toNanos(3)).build());
                }
                assertTrue(allRunning.await(5, TimeUnit.SECONDS), "the first " + BOUND + " requests run");
                for (int i = BOUND; i < BOUND + 100; i++) {
                    client.send(2 * i + 1, block);
                    Response refused = client.response(2 * i + 1);
                    assertEquals(Code.RESOURCE_EXHAUSTED.value(), refused.getStatus().getCode());
                }
                assertEquals(BOUND, running.get(), "no handler ran for the refused requests");
                // Even a quick method is refused while the bound is reached: the count is per connection.
                client.send(2 * (BOUND + 100) + 1, Request.newBuilder().setService(AGENT).setMethod("Check").build());
                assertEquals(Code.RESOURCE_EXHAUSTED.value(),
                        client.response(2 * (BOUND + 100) + 1).getStatus().getCode());

                // Once the blocked requests pass their deadline, their slots serve new requests again.
                for (int i = 0; i < BOUND; i++) {
                    assertEquals(Code.DEADLINE_EXCEEDED.value(), Response.parseFrom(client.next().data())
                            .getStatus().getCode());
                }
                client.send(2 * (BOUND + 101) + 1, Request.newBuilder().setService(AGENT).setMethod("Check").build());
                assertEquals(Code.OK.value(), client.response(2 * (BOUND + 101) + 1).getStatus().getCode());
            }
        }
    }
}
