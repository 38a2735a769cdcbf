package io.javakata.shim.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.javakata.shim.agent.Agent;
import io.javakata.ttrpc.Errors;
import io.javakata.ttrpc.RuntimeStatusException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The wait for the agent's first answer (Sandbox.checkAgent): a Check with no answer is sent again. */
@Timeout(30)
class SandboxCheckTest {

    @TempDir
    Path tmp;

    private static final Agent.Info INFO = new Agent.Info("v1", "6.1");

    @Test
    void aCheckLeftUnansweredIsSentAgainAndItsAnswerCounts() {
        List<Duration> waits = new ArrayList<>();
        Agent.Info info = check(wait -> {
            waits.add(wait);
            if (waits.size() == 1) {
                unanswered(wait); // the request was lost
            }
            return INFO;
        }, Duration.ofSeconds(60), Duration.ofMillis(300));
        assertEquals(INFO, info);
        assertEquals(Duration.ofMillis(300), waits.get(0), "one attempt waits at most its share");
        assertEquals(2, waits.size());
    }

    @Test
    void anAgentAnsweringDeadlineExceededAtOnceIsNotAskedAgain() {
        List<Duration> waits = new ArrayList<>();
        var e = assertThrows(RuntimeStatusException.class, () -> check(wait -> {
            waits.add(wait);
            throw Errors.deadlineExceeded("Check: deadline exceeded in the guest");
        }, Duration.ofSeconds(60), Duration.ofSeconds(20)));
        assertEquals(1, waits.size());
        assertEquals(io.javakata.ttrpc.Code.DEADLINE_EXCEEDED, e.code());
    }

    @Test
    void eachCheckLeftUnansweredWaitsTwiceAsLongAsTheOneBeforeUpToTheLongestAttempt() {
        List<Duration> waits = new ArrayList<>();
        Agent.Info info = check(wait -> {
            waits.add(wait);
            if (waits.size() < 5) {
                unanswered(wait); // lost, or the guest is slow
            }
            return INFO;
        }, Duration.ofSeconds(60), Duration.ofMillis(100), Duration.ofMillis(500));
        assertEquals(INFO, info);
        assertEquals(List.of(Duration.ofMillis(100), Duration.ofMillis(200), Duration.ofMillis(400),
                Duration.ofMillis(500), Duration.ofMillis(500)), waits);
    }

    private Agent.Info check(java.util.function.Function<Duration, Agent.Info> agent, Duration timeout,
                             Duration attempt) {
        return check(agent, timeout, attempt, attempt);
    }

    private Agent.Info check(java.util.function.Function<Duration, Agent.Info> agent, Duration timeout,
                             Duration firstAttempt, Duration maxAttempt) {
        return Sandbox.checkAgent(agent, "pod", timeout, firstAttempt, maxAttempt);
    }

    /** What a Check that gets no answer does: it waits its whole time, then fails DEADLINE_EXCEEDED. */
    private static Agent.Info unanswered(Duration wait) {
        try {
            Thread.sleep(wait.toMillis());
        } catch (InterruptedException ie) {
            throw new IllegalStateException(ie);
        }
        throw Errors.deadlineExceeded("Check: no answer within %s", wait);
    }

    @Test
    void aClosedConnectionEndsTheWaitAtOnce() {
        List<Duration> waits = new ArrayList<>();
        var e = assertThrows(RuntimeStatusException.class, () -> check(wait -> {
            waits.add(wait);
            throw Errors.unavailable("connection to the agent closed");
        }, Duration.ofSeconds(60), Duration.ofSeconds(20)));
        assertEquals(1, waits.size());
        assertTrue(e.getMessage().startsWith("agent did not answer Check within 60 s (1 sent): "), e.getMessage());
    }

    @Test
    void aGuestThatNeverAnswersFailsWithinTheTimeout() {
        List<Duration> waits = new ArrayList<>();
        long started = System.nanoTime();
        var e = assertThrows(RuntimeStatusException.class, () -> check(wait -> {
            waits.add(wait);
            return unanswered(wait);
        }, Duration.ofMillis(1500), Duration.ofMillis(400)));
        long tookMillis = (System.nanoTime() - started) / 1_000_000;
        assertTrue(tookMillis >= 1000 && tookMillis < 5000, "took " + tookMillis + " ms");
        assertTrue(waits.size() >= 3, "sent " + waits.size());
        assertTrue(waits.stream().allMatch(w -> w.compareTo(Duration.ofMillis(400)) <= 0), waits.toString());
        assertEquals(io.javakata.ttrpc.Code.DEADLINE_EXCEEDED, e.code());
    }
}
