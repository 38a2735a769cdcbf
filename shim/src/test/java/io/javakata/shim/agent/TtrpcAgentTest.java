package io.javakata.shim.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.javakata.agent.v1.ReadStreamRequest;
import io.javakata.agent.v1.ReadStreamResponse;
import io.javakata.agent.v1.WaitProcessRequest;
import io.javakata.agent.v1.WaitProcessResponse;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;
import io.javakata.ttrpc.TtrpcClient;
import io.javakata.ttrpc.TtrpcServer;
import io.javakata.ttrpc.transport.PipeConnection;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The long polls of TtrpcAgent against a ttrpc server standing in for the guest agent. */
@Timeout(30)
class TtrpcAgentTest {

    private static final Duration LONG_POLL = Duration.ofMillis(200);
    private static final Duration REQUEST_TIMEOUT = Duration.ofMillis(300);

    private final TtrpcServer server = new TtrpcServer("fake-agent");
    private final List<Integer> timeouts = new CopyOnWriteArrayList<>();
    private final CountDownLatch never = new CountDownLatch(1);
    private TtrpcAgent agent;

    private TtrpcAgent connect() {
        PipeConnection[] pair = PipeConnection.pair();
        Thread.ofVirtual().start(() -> server.serve(pair[1]));
        agent = new TtrpcAgent(new TtrpcClient(pair[0]), REQUEST_TIMEOUT, LONG_POLL);
        return agent;
    }

    @AfterEach
    void close() {
        never.countDown();
        if (agent != null) {
            agent.close();
        }
        server.close();
    }

    @Test
    void waitProcessAsksAgainWhileTheGuestAnswersRunning() {
        AtomicInteger calls = new AtomicInteger();
        server.registerUnary(TtrpcAgent.SERVICE, "WaitProcess", WaitProcessRequest.parser(), (c, q) -> {
            timeouts.add(q.getTimeoutMs());
            return calls.incrementAndGet() < 4 ? WaitProcessResponse.newBuilder().setRunning(true).build()
                    : WaitProcessResponse.newBuilder().setExitStatus(7).build();
        });
        Agent.Exit exit = connect().waitProcess("c1", "");
        assertEquals(7, exit.status());
        assertEquals(List.of(200, 200, 200, 200), timeouts, "every call is a long poll of LONG_POLL");
    }

    @Test
    void aGuestThatNeverAnswersEndsTheWaitAfterThreeMissedDeadlines() {
        server.registerUnary(TtrpcAgent.SERVICE, "WaitProcess", WaitProcessRequest.parser(), (c, q) -> {
            timeouts.add(q.getTimeoutMs());
            never.await();
            return WaitProcessResponse.getDefaultInstance();
        });
        long start = System.nanoTime();
        RuntimeStatusException e = assertThrows(RuntimeStatusException.class, () -> connect().waitProcess("c1", ""));
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        assertEquals(Code.DEADLINE_EXCEEDED, e.code());
        assertEquals(TtrpcAgent.MISSED_DEADLINES, timeouts.size());
        Duration each = LONG_POLL.plus(REQUEST_TIMEOUT);
        assertTrue(took.compareTo(each.multipliedBy(TtrpcAgent.MISSED_DEADLINES)) >= 0, "gave up after " + took);
        assertTrue(took.compareTo(each.multipliedBy(TtrpcAgent.MISSED_DEADLINES).plusSeconds(5)) < 0, "took " + took);
    }

    @Test
    void readStdoutIsALongPollAndAnEmptyAnswerIsNotTheEnd() {
        server.registerUnary(TtrpcAgent.SERVICE, "ReadStdout", ReadStreamRequest.parser(), (c, q) -> {
            timeouts.add(q.getTimeoutMs());
            return ReadStreamResponse.getDefaultInstance();
        });
        Agent.Chunk nothing = connect().readStdout("c1", "e1", 1024);
        assertEquals(0, nothing.data().length);
        assertFalse(nothing.eof());
        assertEquals(List.of(200), timeouts);
    }
}
