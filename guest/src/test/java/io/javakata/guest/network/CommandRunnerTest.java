package io.javakata.guest.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.javakata.guest.ReaperLoop;
import io.javakata.guest.TestProcesses;

/** The guest's command runner (busybox ip): through the REAPER.reaper(), with a timeout that fires whatever the output does. */
@Timeout(30)
class CommandRunnerTest {

    @RegisterExtension
    static final ReaperLoop REAPER = new ReaperLoop();

    private final String marker = TestProcesses.sleepMarker();

    @AfterEach
    void killLeftovers() {
        TestProcesses.killSleepers(marker);
    }

    @Test
    void timeoutKillsTheCommandAndSaysSo() {
        long start = System.nanoTime();
        var e = assertThrows(IOException.class,
                () -> CommandRunner.system(REAPER.reaper(), Duration.ofMillis(200)).run(List.of("sleep", marker)));
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        assertEquals("sleep " + marker + ": still running after 200 ms; killed", e.getMessage());
        assertTrue(took.compareTo(Duration.ofSeconds(3)) < 0, () -> "reported after " + took);
        assertEquals(List.of(), TestProcesses.sleepers(marker), "the sleep is killed, not left running");
    }

    @Test
    void exitIsNotHeldByAChildThatKeepsTheOutputOpen() throws IOException {
        long start = System.nanoTime();
        CommandRunner.system(REAPER.reaper(), Duration.ofSeconds(20)).run(List.of("sh", "-c", "echo out; sleep " + marker + " &"));
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        assertTrue(took.compareTo(Duration.ofSeconds(5)) < 0, () -> "returned after " + took + ", not at the shell's exit");
    }

    @Test
    void failureCarriesTheExitCodeAndOutput() {
        var e = assertThrows(IOException.class,
                () -> CommandRunner.system(REAPER.reaper()).run(List.of("sh", "-c", "echo 'RTNETLINK answers: File exists' >&2; exit 2")));
        assertEquals("sh -c echo 'RTNETLINK answers: File exists' >&2; exit 2: exit 2: RTNETLINK answers: File exists",
                e.getMessage());
    }
}
