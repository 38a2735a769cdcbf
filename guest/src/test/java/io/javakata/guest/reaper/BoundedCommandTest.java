package io.javakata.guest.reaper;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.javakata.guest.ReaperLoop;
import io.javakata.guest.TestProcesses;

/** The agent's command runs, with the real reaper loop running as in the guest: timeouts fire, statuses stay true. */
@Timeout(30)
class BoundedCommandTest {

    @RegisterExtension
    static final ReaperLoop REAPER = new ReaperLoop();

    private final String marker = TestProcesses.sleepMarker();

    @AfterEach
    void killLeftovers() {
        TestProcesses.killSleepers(marker);
    }

    @Test
    void timeoutKillsTheCommandAndWhatItStarted() {
        long start = System.nanoTime();
        var e = assertThrows(IOException.class, () -> BoundedCommand.run(REAPER.reaper(),
                new ProcessBuilder("sh", "-c", "sleep " + marker + " & sleep " + marker), Duration.ofMillis(200), "two sleeps"));
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        assertEquals("two sleeps: still running after 200 ms; killed", e.getMessage());
        assertTrue(took.compareTo(Duration.ofSeconds(3)) < 0, () -> "reported after " + took);
        assertEquals(List.of(), TestProcesses.sleepers(marker), "both sleeps are killed with their shell");
    }

    @Test
    void interruptKillsTheCommand() throws Exception {
        var failure = new CompletableFuture<Throwable>();
        Thread waiter = Thread.ofPlatform().start(() -> {
            try {
                BoundedCommand.run(REAPER.reaper(), new ProcessBuilder("sleep", marker), Duration.ofSeconds(60), "sleep");
                failure.complete(null);
            } catch (IOException e) {
                failure.complete(e);
            }
        });
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (TestProcesses.sleepers(marker).isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        waiter.interrupt();
        assertEquals("sleep: interrupted; killed", failure.get().getMessage());
        assertEquals(List.of(), TestProcesses.sleepers(marker));
    }

    @Test
    void exitCodesAreTheCommandsOwnWhileTheReaperRuns() throws IOException {
        // The loop reaps any child it does not know; one started around the reaper could lose its status to it.
        for (int i = 0; i < 50; i++) {
            assertEquals(3, BoundedCommand.run(REAPER.reaper(), new ProcessBuilder("sh", "-c", "exit 3"), Duration.ofSeconds(10), "sh"));
            assertEquals(0, BoundedCommand.run(REAPER.reaper(), new ProcessBuilder("true"), Duration.ofSeconds(10), "true"));
        }
    }
}
