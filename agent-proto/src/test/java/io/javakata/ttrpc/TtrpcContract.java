package io.javakata.ttrpc;

import com.google.protobuf.ByteString;
import io.javakata.agent.v1.CheckRequest;
import io.javakata.agent.v1.CheckResponse;
import io.javakata.ttrpc.proto.Request;
import io.javakata.ttrpc.proto.Response;
import io.javakata.ttrpc.transport.Connection;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Client and server behaviour that must hold on every connection type; subclassed per transport. */
@Timeout(30)
abstract class TtrpcContract {

    static final String AGENT = "javakata.agent.v1.Agent";
    static final Duration T = Duration.ofSeconds(10);

    TtrpcServer server;
    final AtomicInteger inFlight = new AtomicInteger();
    final AtomicInteger maxInFlight = new AtomicInteger();
    final CountDownLatch blockEntered = new CountDownLatch(1);
    final CountDownLatch blockInterrupted = new CountDownLatch(1);

    /** Makes {@link #server} serve a new connection and returns the client's end. */
    abstract Connection connectToServer() throws IOException;

    @BeforeEach
    void startServer() {
        server = new TtrpcServer("test");
        server.registerUnary(AGENT, "Check", CheckRequest.parser(), (ctx, q) -> CheckResponse.newBuilder()
                .setVersion(ctx.metadataValue("id").orElse("v1"))
                .setKernelRelease(ctx.deadline().isPresent() ? "deadline" : "none").build());
        server.registerUnary(AGENT, "Slow", CheckRequest.parser(), (ctx, q) -> {
            int now = inFlight.incrementAndGet();
            maxInFlight.accumulateAndGet(now, Math::max);
            try {
                Thread.sleep(ThreadLocalRandom.current().nextInt(20));
            } finally {
                inFlight.decrementAndGet();
            }
            return CheckResponse.newBuilder().setVersion(ctx.metadataValue("id").orElseThrow()).build();
        });
        server.registerUnary(AGENT, "Fail", CheckRequest.parser(), (ctx, q) -> {
            throw new RuntimeStatusException(Code.valueOf(ctx.metadataValue("code").orElseThrow()), "failed on purpose");
        });
        server.registerUnary(AGENT, "Boom", CheckRequest.parser(), (ctx, q) -> {
            throw new IllegalStateException("boom");
        });
        server.registerUnary(AGENT, "Block", CheckRequest.parser(), (ctx, q) -> {
            blockEntered.countDown();
            try {
                new CompletableFuture<Void>().get();
            } catch (InterruptedException e) {
                blockInterrupted.countDown();
                throw e;
            }
            return null;
        });
    }

    @AfterEach
    void stopServer() {
        server.close();
    }

    @Test
    void callRoundTrips() throws IOException {
        try (TtrpcClient client = new TtrpcClient(connectToServer())) {
            CheckResponse r = client.call(AGENT, "Check", CheckRequest.getDefaultInstance(), CheckResponse.parser(), T,
                    Map.of("ID", "abc"));
            assertEquals("abc", r.getVersion(), "metadata keys arrive lower-cased");
            assertEquals("deadline", r.getKernelRelease());
            CheckResponse none = client.call(AGENT, "Check", CheckRequest.getDefaultInstance(),
                    CheckResponse.parser(), null);
            assertEquals("none", none.getKernelRelease());
            assertEquals("v1", client.callAsync(AGENT, "Check", CheckRequest.getDefaultInstance(),
                    CheckResponse.parser(), Duration.ZERO).join().getVersion());
        }
    }

    /**
     * A handler that answered is never interrupted: an interrupt while it still writes its answer closes the
     * connection's channel. Several connections at once, so a read loop is often descheduled right after it started
     * a handler, which then answers before the loop goes on.
     */
    @Test
    void thousandsOfQuickCallsKeepTheirConnections() throws Exception {
        var clients = new ArrayList<CompletableFuture<Void>>();
        for (int c = 0; c < 4; c++) {
            TtrpcClient client = new TtrpcClient(connectToServer());
            clients.add(CompletableFuture.runAsync(() -> {
                try (client) {
                    for (int i = 0; i < 2000; i++) {
                        assertEquals("v1", client.call(AGENT, "Check", CheckRequest.getDefaultInstance(),
                                CheckResponse.parser(), T).getVersion(), "call " + i);
                    }
                }
            }));
        }
        for (var client : clients) {
            client.get(60, TimeUnit.SECONDS);
        }
    }

    @Test
    void twoHundredConcurrentCallsShareOneConnection() throws Exception {
        try (TtrpcClient client = new TtrpcClient(connectToServer());
             ExecutorService pool = Executors.newFixedThreadPool(20)) {
            List<Future<?>> results = new ArrayList<>();
            for (int i = 0; i < 200; i++) {
                String id = "call-" + i;
                results.add(pool.submit(() -> assertEquals(id, client.call(AGENT, "Slow",
                        CheckRequest.getDefaultInstance(), CheckResponse.parser(), T, Map.of("id", id)).getVersion())));
            }
            for (Future<?> result : results) {
                result.get(20, TimeUnit.SECONDS);
            }
        }
        assertTrue(maxInFlight.get() > 1, "handlers overlapped: " + maxInFlight.get());
    }

    @ParameterizedTest
    @EnumSource(value = Code.class, names = "OK", mode = EnumSource.Mode.EXCLUDE)
    void statusCodesRoundTrip(Code code) throws IOException {
        try (TtrpcClient client = new TtrpcClient(connectToServer())) {
            RuntimeStatusException e = assertThrows(RuntimeStatusException.class, () -> client.call(AGENT, "Fail",
                    CheckRequest.getDefaultInstance(), CheckResponse.parser(), T, Map.of("code", code.name())));
            assertEquals(code, e.code());
            assertEquals("failed on purpose", e.getMessage());
        }
    }

    @Test
    void unexpectedExceptionIsUnknownWithItsMessage() throws IOException {
        try (TtrpcClient client = new TtrpcClient(connectToServer())) {
            RuntimeStatusException e = assertThrows(RuntimeStatusException.class, () -> client.call(AGENT, "Boom",
                    CheckRequest.getDefaultInstance(), CheckResponse.parser(), T));
            assertEquals(Code.UNKNOWN, e.code());
            assertEquals("boom", e.getMessage());
        }
    }

    @Test
    void unknownServiceAndMethodAreUnimplemented() throws IOException {
        try (TtrpcClient client = new TtrpcClient(connectToServer())) {
            RuntimeStatusException service = assertThrows(RuntimeStatusException.class, () -> client.call(
                    "containerd.task.v2.Task", "Create", CheckRequest.getDefaultInstance(), CheckResponse.parser(), T));
            assertEquals(Code.UNIMPLEMENTED, service.code());
            assertEquals("service containerd.task.v2.Task", service.getMessage());
            RuntimeStatusException method = assertThrows(RuntimeStatusException.class, () -> client.call(
                    AGENT, "Nope", CheckRequest.getDefaultInstance(), CheckResponse.parser(), T));
            assertEquals(Code.UNIMPLEMENTED, method.code());
            assertEquals("method Nope", method.getMessage());
        }
    }

    @Test
    void handlerOutlivingItsDeadlineIsInterrupted() throws Exception {
        try (TtrpcClient client = new TtrpcClient(connectToServer())) {
            RuntimeStatusException e = assertThrows(RuntimeStatusException.class, () -> client.call(AGENT, "Block",
                    CheckRequest.getDefaultInstance(), CheckResponse.parser(), Duration.ofMillis(200)));
            assertEquals(Code.DEADLINE_EXCEEDED, e.code());
            assertTrue(blockInterrupted.await(5, TimeUnit.SECONDS), "handler interrupted at the deadline");
            assertEquals("v1", client.call(AGENT, "Check", CheckRequest.getDefaultInstance(),
                    CheckResponse.parser(), T).getVersion(), "the connection survives");
        }
    }

    @Test
    void serverSideDeadlineAnswersDeadlineExceeded() throws Exception {
        try (RawPeer raw = new RawPeer(connectToServer())) {
            raw.send(1, Request.newBuilder().setService(AGENT).setMethod("Block")
                    .setTimeoutNano(Duration.ofMillis(100).toNanos()).build());
            Response response = raw.response(1);
            assertEquals(Code.DEADLINE_EXCEEDED.value(), response.getStatus().getCode());
            assertTrue(response.getPayload().isEmpty(), "an error carries no payload");
            assertTrue(blockInterrupted.await(5, TimeUnit.SECONDS));
        }
    }

    @Test
    void serverClosingMidCallFailsPendingCallsUnavailable() throws Exception {
        TtrpcClient client = new TtrpcClient(connectToServer());
        CompletableFuture<CheckResponse> pending = client.callAsync(AGENT, "Block", CheckRequest.getDefaultInstance(),
                CheckResponse.parser(), null);
        assertTrue(blockEntered.await(5, TimeUnit.SECONDS));
        server.close();
        var e = assertThrows(java.util.concurrent.ExecutionException.class, () -> pending.get(5, TimeUnit.SECONDS));
        RuntimeStatusException status = (RuntimeStatusException) e.getCause();
        assertEquals(Code.UNAVAILABLE, status.code());
        assertTrue(status.getMessage().matches("connection to .+ closed"), status.getMessage());
        client.onClose().get(5, TimeUnit.SECONDS);
        assertTrue(client.isClosed());
        assertTrue(blockInterrupted.await(5, TimeUnit.SECONDS), "abandoned handler interrupted");
        RuntimeStatusException after = assertThrows(RuntimeStatusException.class, () -> client.call(AGENT, "Check",
                CheckRequest.getDefaultInstance(), CheckResponse.parser(), T));
        assertEquals(Code.UNAVAILABLE, after.code());
    }

    @Test
    void successHasNoStatusAndIgnoredFramesGetNoAnswer() throws IOException {
        try (RawPeer raw = new RawPeer(connectToServer())) {
            raw.sendFrame(new Frame(1, Frame.TYPE_DATA, 1, new byte[] {1, 2}));
            raw.sendFrame(new Frame(3, 9, 0, new byte[0]));
            raw.send(5, Request.newBuilder().setService(AGENT).setMethod("Check").build());
            Frame frame = raw.next();
            assertEquals(5, frame.streamId(), "frames of other types are ignored");
            assertEquals(Frame.TYPE_RESPONSE, frame.type());
            assertEquals(0, frame.flags());
            Response response = Response.parseFrom(frame.data());
            assertFalse(response.hasStatus());
            assertEquals("v1", CheckResponse.parseFrom(response.getPayload()).getVersion());
        }
    }

    @Test
    void evenStreamIdIsInvalidButTheConnectionLives() throws IOException {
        try (RawPeer raw = new RawPeer(connectToServer())) {
            raw.send(2, Request.newBuilder().setService(AGENT).setMethod("Check").build());
            Response response = raw.response(2);
            assertEquals(Code.INVALID_ARGUMENT.value(), response.getStatus().getCode());
            assertEquals("StreamID must be odd for client initiated streams", response.getStatus().getMessage());
            raw.send(3, Request.newBuilder().setService(AGENT).setMethod("Check").build());
            assertFalse(raw.response(3).hasStatus());
        }
    }

    @Test
    void payloadOfTheWrongShapeIsInvalidArgument() throws IOException {
        try (RawPeer raw = new RawPeer(connectToServer())) {
            raw.send(1, Request.newBuilder().setService(AGENT).setMethod("Check")
                    .setPayload(ByteString.copyFrom(new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff})).build());
            Response response = raw.response(1);
            assertEquals(Code.INVALID_ARGUMENT.value(), response.getStatus().getCode());
            assertTrue(response.getStatus().getMessage().startsWith("unmarshal payload of " + AGENT + "/Check"));
        }
    }

    @Test
    void malformedRequestIsAnsweredThenTheConnectionCloses() throws IOException {
        try (RawPeer raw = new RawPeer(connectToServer())) {
            raw.sendFrame(new Frame(1, Frame.TYPE_REQUEST, 0, new byte[] {(byte) 0xff, (byte) 0xff, 0x07}));
            Response response = raw.response(1);
            assertEquals(Code.INVALID_ARGUMENT.value(), response.getStatus().getCode());
            assertTrue(response.getStatus().getMessage().startsWith("unmarshal request error: "),
                    response.getStatus().getMessage());
            raw.assertClosed();
        }
    }

    @Test
    void oversizeFrameIsAnsweredThenTheConnectionCloses() throws IOException {
        try (RawPeer raw = new RawPeer(connectToServer())) {
            raw.connection.output().write(new byte[] {0, 0x50, 0, 0, 0, 0, 0, 7, 1, 0, 1, 2, 3});
            Response response = raw.response(7);
            assertEquals(Code.RESOURCE_EXHAUSTED.value(), response.getStatus().getCode());
            assertEquals("message length 5242880 exceed maximum message size of 4194304",
                    response.getStatus().getMessage());
            raw.assertClosed();
        }
    }

    @Test
    void truncatedFrameClosesTheConnection() throws IOException {
        try (RawPeer raw = new RawPeer(connectToServer())) {
            raw.connection.output().write(new byte[] {0, 0, 0, 20, 0, 0, 0, 1, 1, 0, 1, 2});
            raw.connection.output().flush();
            raw.halfClose();
            raw.assertClosed();
        }
    }
}
