package io.javakata.shim.events;

import com.google.protobuf.Empty;
import io.containerd.events.TaskCreate;
import io.containerd.events.TaskDelete;
import io.containerd.events.TaskExit;
import io.containerd.events.TaskStart;
import io.containerd.services.events.ttrpc.v1.ForwardRequest;
import io.javakata.shim.log.ShimLogging;
import io.javakata.ttrpc.Errors;
import io.javakata.ttrpc.TtrpcServer;
import io.javakata.ttrpc.UnixServer;
import io.javakata.ttrpc.transport.UnixConnection;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(30)
class TtrpcEventPublisherTest {

    /** What the in-test "containerd" received: the request and the call's metadata. */
    record Received(ForwardRequest request, Map<String, List<String>> metadata) {
        String topic() {
            return request.getEnvelope().getTopic();
        }
    }

    @TempDir
    Path dir;

    private final BlockingQueue<Received> received = new LinkedBlockingQueue<>();
    private TtrpcServer server;
    private UnixServer listener;

    private Path socket() {
        return dir.resolve("containerd.sock.ttrpc");
    }

    /** Plays containerd's ttrpc Events service on the test socket. */
    private void startContainerd() throws IOException {
        startContainerd(request -> { });
    }

    /** The same, with {@code check} run on each request first (it may throw a status for containerd to answer). */
    private void startContainerd(Consumer<ForwardRequest> check) throws IOException {
        server = new TtrpcServer("fake-containerd");
        server.registerUnary(TtrpcEventPublisher.SERVICE, TtrpcEventPublisher.METHOD, ForwardRequest.parser(),
                (ctx, request) -> {
                    check.accept(request);
                    received.add(new Received(request, ctx.metadata()));
                    return Empty.getDefaultInstance();
                });
        listener = UnixServer.listen(socket(), server);
    }

    private void stopContainerd() {
        if (listener != null) {
            listener.close();
            listener = null;
        }
        if (server != null) {
            server.close();
            server = null;
        }
    }

    @AfterEach
    void tearDown() {
        stopContainerd();
    }

    private Received next() throws InterruptedException {
        Received r = received.poll(10, TimeUnit.SECONDS);
        assertNotNull(r, "containerd received no event within 10 s");
        return r;
    }

    @Test
    void forwardsEventsInOrderWithNamespaceTopicTypeAndMetadata() throws Exception {
        startContainerd();
        try (var publisher = new TtrpcEventPublisher(socket(), "k8s.io")) {
            publisher.publish("/tasks/create", TaskCreate.newBuilder().setContainerId("c1").setPid(7).build());
            publisher.publish("/tasks/start", TaskStart.newBuilder().setContainerId("c1").setPid(7).build());
            publisher.publish("/tasks/exit", TaskExit.newBuilder().setContainerId("c1").setExitStatus(3).build());
            publisher.publish("/tasks/delete", TaskDelete.newBuilder().setContainerId("c1").build());

            String[][] expected = {
                {"/tasks/create", "containerd.events.TaskCreate"},
                {"/tasks/start", "containerd.events.TaskStart"},
                {"/tasks/exit", "containerd.events.TaskExit"},
                {"/tasks/delete", "containerd.events.TaskDelete"},
            };
            for (String[] e : expected) {
                Received r = next();
                assertEquals(e[0], r.topic());
                assertEquals("k8s.io", r.request().getEnvelope().getNamespace());
                assertEquals(e[1], r.request().getEnvelope().getEvent().getTypeUrl());
                assertTrue(r.request().getEnvelope().hasTimestamp());
                assertEquals(List.of("k8s.io"), r.metadata().get("containerd-namespace-ttrpc"));
            }
        }
    }

    @Test
    void retriesUntilContainerdListensAndKeepsOrder() throws Exception {
        var firstFailure = new CountDownLatch(1);
        var attempts = new AtomicInteger();
        TtrpcEventPublisher.Connector connector = () -> {
            attempts.incrementAndGet();
            try {
                return UnixConnection.connect(socket());
            } catch (IOException e) {
                firstFailure.countDown();
                throw e;
            }
        };
        try (var publisher = new TtrpcEventPublisher(connector, "ns", Duration.ofMillis(100), Clock.systemUTC())) {
            publisher.publish("/tasks/create", TaskCreate.newBuilder().setContainerId("late").build());
            publisher.publish("/tasks/start", TaskStart.newBuilder().setContainerId("late").build());
            assertTrue(firstFailure.await(10, TimeUnit.SECONDS));
            startContainerd();
            assertEquals("/tasks/create", next().topic());
            assertEquals("/tasks/start", next().topic());
            assertTrue(attempts.get() >= 2, "attempts: " + attempts.get());
        }
    }

    @Test
    void reconnectsWhenContainerdRestarted() throws Exception {
        startContainerd();
        try (var publisher = new TtrpcEventPublisher(socket(), "ns")) {
            publisher.publish("/tasks/create", TaskCreate.newBuilder().setContainerId("a").build());
            assertEquals("/tasks/create", next().topic());
            stopContainerd();
            startContainerd();
            publisher.publish("/tasks/start", TaskStart.newBuilder().setContainerId("a").build());
            // Delivery is at least once, as with containerd's Go publisher: if the old server went away before its
            // answer reached the publisher, the create is sent again on the new connection, before the start.
            Received r = next();
            while (r.topic().equals("/tasks/create")) {
                r = next();
            }
            assertEquals("/tasks/start", r.topic());
            assertEquals("a", TaskStart.parseFrom(r.request().getEnvelope().getEvent().getValue()).getContainerId());
        }
    }

    @Test
    void dropsAnEventContainerdAnswersWithAnErrorAfterFiveRetries() throws Exception {
        var badAttempts = new AtomicInteger();
        startContainerd(request -> {
            if (request.getEnvelope().getTopic().equals("/tasks/bad")) {
                badAttempts.incrementAndGet();
                throw Errors.invalidArgument("event %s: refused", request.getEnvelope().getTopic());
            }
        });
        try (var logs = new CapturedLog();
             var publisher = new TtrpcEventPublisher(() -> UnixConnection.connect(socket()), "ns",
                     Duration.ofMillis(10), Clock.systemUTC())) {
            publisher.publish("/tasks/bad", TaskExit.newBuilder().setContainerId("bad").build());
            publisher.publish("/tasks/delete", TaskDelete.newBuilder().setContainerId("good").build());
            assertEquals("/tasks/delete", next().topic());
            assertEquals(1 + TtrpcEventPublisher.RETRIES, badAttempts.get());
            assertEquals(1, logs.count("dropped event /tasks/bad after 6 error answers"), logs::text);
        }
    }

    @Test
    void eventsOutliveAnOutageLongerThanTheRetriesAndArriveInOrder() throws Exception {
        startContainerd();
        var failures = new AtomicInteger();
        var outageStarted = new CountDownLatch(1);
        // Far more than the 1 + RETRIES attempts after which the Go library drops an event, and far longer than its
        // 1 + 2 + 3 + 4 + 5 = 15 base delays: 20 attempts wait 10 + 20 + 30 + 40 + 16 × 50 = 900 ms here.
        var outageLong = new CountDownLatch(1);
        TtrpcEventPublisher.Connector connector = () -> {
            try {
                return UnixConnection.connect(socket());
            } catch (IOException e) {
                int n = failures.incrementAndGet();
                if (n == 3) {
                    outageStarted.countDown();
                } else if (n == 20) {
                    outageLong.countDown();
                }
                throw e;
            }
        };
        try (var logs = new CapturedLog();
             var publisher = new TtrpcEventPublisher(connector, "ns", Duration.ofMillis(10), Clock.systemUTC())) {
            publisher.publish("/tasks/create", TaskCreate.newBuilder().setContainerId("c").build());
            assertEquals("/tasks/create", next().topic());
            // Its answer too, or the create would be sent again after the outage (delivery is at least once).
            assertTrue(publisher.awaitSent(Duration.ofSeconds(10)));
            stopContainerd();
            publisher.publish("/tasks/start", TaskStart.newBuilder().setContainerId("c").build());
            assertTrue(outageStarted.await(10, TimeUnit.SECONDS), "the publisher did not retry");
            publisher.publish("/tasks/exit", TaskExit.newBuilder().setContainerId("c").setExitStatus(7).build());
            assertFalse(publisher.awaitSent(Duration.ofMillis(50)), "events sent while containerd is down");
            assertTrue(outageLong.await(20, TimeUnit.SECONDS), "the publisher stopped retrying: " + failures.get());
            startContainerd();
            assertEquals("/tasks/start", next().topic());
            Received exit = next();
            assertEquals("/tasks/exit", exit.topic());
            assertEquals(7, TaskExit.parseFrom(exit.request().getEnvelope().getEvent().getValue()).getExitStatus());
            assertTrue(publisher.awaitSent(Duration.ofSeconds(10)));
            assertEquals(1, logs.count("containerd unreachable"), logs::text);
            assertEquals(1, logs.count("containerd takes events again"), logs::text);
            assertEquals(0, logs.count("dropped"), logs::text);
        }
    }

    @Test
    void aFullQueueRefusesTheNewestEventsAndLogsTheBurstOnce() throws Exception {
        startContainerd();
        var release = new CountDownLatch(1);
        TtrpcEventPublisher.Connector held = () -> {
            try {
                if (!release.await(20, TimeUnit.SECONDS)) {
                    throw new IOException("not released");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted", e);
            }
            return UnixConnection.connect(socket());
        };
        int capacity = TtrpcEventPublisher.CAPACITY;
        try (var logs = new CapturedLog();
             var publisher = new TtrpcEventPublisher(held, "ns", Duration.ofMillis(10), Clock.systemUTC())) {
            for (int i = 0; i < capacity + 3; i++) {
                publisher.publish("/tasks/exit", TaskExit.newBuilder().setContainerId("c").setPid(i).build());
            }
            assertEquals(1, logs.count("event queue full (" + capacity + " events"), logs::text);
            release.countDown();
            for (int i = 0; i < capacity; i++) {
                Received r = next();
                assertEquals(i, TaskExit.parseFrom(r.request().getEnvelope().getEvent().getValue()).getPid());
            }
            assertTrue(publisher.awaitSent(Duration.ofSeconds(10)));
            assertEquals(0, logs.count("dropped 3 event(s)"), logs::text);
            publisher.publish("/tasks/delete", TaskDelete.newBuilder().setContainerId("c").build());
            assertEquals("/tasks/delete", next().topic());
            assertEquals(1, logs.count("dropped 3 event(s) while the event queue was full"), logs::text);
            assertEquals(1, logs.count("event queue full"), logs::text);
        }
        assertTrue(received.isEmpty(), () -> received.size() + " refused events arrived");
    }

    @Test
    void closeGivesUpDrainingAfterFiveSecondsWhileContainerdIsDown() {
        var attempts = new AtomicInteger();
        try (var logs = new CapturedLog()) {
            var publisher = new TtrpcEventPublisher(() -> {
                attempts.incrementAndGet();
                throw new IOException("connect " + socket() + ": connection refused");
            }, "ns", Duration.ofMillis(10), Clock.systemUTC());
            publisher.publish("/tasks/exit", TaskExit.getDefaultInstance());
            publisher.publish("/tasks/delete", TaskDelete.getDefaultInstance());
            long start = System.nanoTime();
            publisher.close();
            long elapsed = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertTrue(elapsed >= 4_900 && elapsed < 7_000, "close took " + elapsed + " ms");
            assertTrue(attempts.get() > 1 + TtrpcEventPublisher.RETRIES, "attempts: " + attempts.get());
            assertEquals(1, logs.count("did not drain in 5 s: lost 2 event(s)"), logs::text);
            int after = attempts.get();
            publisher.publish("/tasks/start", TaskStart.getDefaultInstance());
            assertEquals(after, attempts.get());
            assertEquals(1, logs.count("dropped event /tasks/start published after close"), logs::text);
        }
    }

    /** Collects the shim's log lines while open; restores the previous settings on close. */
    private static final class CapturedLog implements AutoCloseable {
        private final ShimLogging.Settings previous = ShimLogging.settings();
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();

        CapturedLog() {
            ShimLogging.configure(new ShimLogging.Settings("ns", "test", true,
                    new PrintStream(bytes, true, StandardCharsets.UTF_8), Clock.systemUTC()));
        }

        synchronized String text() {
            return bytes.toString(StandardCharsets.UTF_8);
        }

        long count(String fragment) {
            return text().lines().filter(l -> l.contains(fragment)).count();
        }

        @Override
        public void close() {
            ShimLogging.configure(previous);
        }
    }
}
