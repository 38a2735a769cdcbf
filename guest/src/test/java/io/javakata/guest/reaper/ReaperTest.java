package io.javakata.guest.reaper;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(10)
class ReaperTest {

    /** Scripted zombies: each waitAnyNoReap returns the next pid; reap answers from a table. */
    private static final class FakeWaiter implements ChildWaiter {
        final Deque<Integer> zombies = new ArrayDeque<>();
        final Map<Integer, Integer> codes = new HashMap<>();
        final List<Integer> reaped = new ArrayList<>();

        @Override
        public int waitAnyNoReap() {
            return zombies.isEmpty() ? -1 : zombies.poll();
        }

        @Override
        public OptionalInt reap(int pid) {
            reaped.add(pid);
            Integer code = codes.remove(pid);
            return code == null ? OptionalInt.empty() : OptionalInt.of(code);
        }
    }

    private final Clock clock = Clock.fixed(Instant.parse("2026-01-01T00:00:00Z"), ZoneOffset.UTC);

    @Test
    void trackedProcessIsReapedAndItsFutureCompletes() throws Exception {
        FakeWaiter waiter = new FakeWaiter();
        Reaper reaper = new Reaper(waiter, clock);
        CompletableFuture<ExitStatus> exit = reaper.track(42);
        waiter.zombies.add(42);
        waiter.codes.put(42, 3);
        assertTrue(reaper.reapOnce());
        assertEquals(new ExitStatus(3, clock.instant()), exit.getNow(null));
        assertEquals(List.of(42), waiter.reaped);
    }

    @Test
    void orphanIsReapedAndRememberedForALateTrack() throws Exception {
        FakeWaiter waiter = new FakeWaiter();
        Reaper reaper = new Reaper(waiter, clock);
        waiter.zombies.add(77);
        waiter.codes.put(77, 137);
        reaper.reapOnce();
        assertEquals(List.of(77), waiter.reaped, "an orphan is reaped, or it stays a zombie forever");
        assertEquals(137, reaper.track(77).getNow(null).status());
    }

    @Test
    void childOfTheJdkIsLeftToTheJdk() throws Exception {
        FakeWaiter waiter = new FakeWaiter();
        Reaper reaper = new Reaper(waiter, clock);
        Process process = reaper.start(new ProcessBuilder("sleep", "5"));
        try {
            int pid = (int) process.pid();
            waiter.zombies.add(pid);
            waiter.codes.put(pid, 0);
            reaper.reapOnce();
            assertTrue(waiter.reaped.isEmpty(), "the reaper must not steal the JDK's exit status");
        } finally {
            process.destroyForcibly();
            process.waitFor(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void aTrackedProcessStillRunningIsNotCompleted() throws Exception {
        FakeWaiter waiter = new FakeWaiter();
        Reaper reaper = new Reaper(waiter, clock);
        CompletableFuture<ExitStatus> exit = reaper.track(5);
        waiter.zombies.add(5);
        reaper.reapOnce();
        assertFalse(exit.isDone());
    }

    @Test
    void noChildrenReturnsFalse() throws Exception {
        Reaper reaper = new Reaper(new FakeWaiter(), clock);
        Thread waker = Thread.ofVirtual().start(() -> reaper.track(9));
        assertFalse(reaper.reapOnce());
        waker.join();
    }
}
