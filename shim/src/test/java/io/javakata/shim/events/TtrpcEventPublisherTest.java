package io.javakata.shim.events;

import com.google.protobuf.Empty;
import io.containerd.events.TaskCreate;
import io.containerd.events.TaskDelete;
import io.containerd.events.TaskExit;
import io.containerd.events.TaskStart;
import io.containerd.services.events.ttrpc.v1.ForwardRequest;
import io.javakata.ttrpc.TtrpcServer;
import io.javakata.ttrpc.UnixServer;
import io.javakata.ttrpc.transport.UnixConnection;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
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

import static org.junit.jupiter.api.Assertions.assertEquals;
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
        server = new TtrpcServer("fake-containerd");
        server.registerUnary(TtrpcEventPublisher.SERVICE, TtrpcEventPublisher.METHOD, ForwardRequest.parser(),
                (ctx, request) -> {
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
    void dropsAnEventAfterFiveRetriesAndStillCloses() {
        var attempts = new AtomicInteger();
        TtrpcEventPublisher.Connector refusing = () -> {
            attempts.incrementAndGet();
            throw new IOException("connect " + socket() + ": connection refused");
        };
        long start = System.nanoTime();
        var publisher = new TtrpcEventPublisher(refusing, "ns", Duration.ofMillis(10), Clock.systemUTC());
        publisher.publish("/tasks/exit", TaskExit.newBuilder().setContainerId("gone").build());
        publisher.close();
        assertEquals(1 + TtrpcEventPublisher.RETRIES, attempts.get());
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(5));
        publisher.publish("/tasks/delete", TaskDelete.getDefaultInstance());
        assertEquals(1 + TtrpcEventPublisher.RETRIES, attempts.get());
    }

    @Test
    void closeGivesUpDrainingAfterFiveSeconds() {
        var publisher = new TtrpcEventPublisher(() -> {
            throw new IOException("refused");
        }, "ns", Duration.ofSeconds(10), Clock.systemUTC());
        publisher.publish("/tasks/exit", TaskExit.getDefaultInstance());
        long start = System.nanoTime();
        publisher.close();
        long elapsed = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertTrue(elapsed >= 4_900 && elapsed < 7_000, "close took " + elapsed + " ms");
    }
}
