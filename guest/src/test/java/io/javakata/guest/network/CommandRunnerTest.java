package io.javakata.guest.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
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

    @Test
    void aBatchRunsEveryCommandInOrderWithItsArgumentsVerbatim(@TempDir Path dir) throws IOException {
        Path odd = dir.resolve("it's $HOME `date` \\ \"q\" ;|&");
        Path log = dir.resolve("log");
        CommandRunner.system(REAPER.reaper()).runAll(List.of(
                List.of("touch", odd.toString()),
                List.of("sh", "-c", "echo one >> \"$0\"", log.toString()),
                List.of("sh", "-c", "echo two >> \"$0\"", log.toString())));
        assertTrue(Files.exists(odd), odd + " made under its exact name");
        assertEquals("one\ntwo\n", Files.readString(log));
    }

    @Test
    void aBatchStopsAtTheFirstFailureAndReportsItAsRunWould(@TempDir Path dir) {
        Path before = dir.resolve("before");
        Path after = dir.resolve("after");
        List<String> failing = List.of("sh", "-c", "echo 'RTNETLINK answers: File exists' >&2; exit 2");
        var e = assertThrows(IOException.class, () -> CommandRunner.system(REAPER.reaper()).runAll(List.of(
                List.of("touch", before.toString()), failing, List.of("touch", after.toString()))));
        assertEquals("sh -c echo 'RTNETLINK answers: File exists' >&2; exit 2: exit 2: RTNETLINK answers: File exists",
                e.getMessage());
        assertTrue(Files.exists(before));
        assertFalse(Files.exists(after), "nothing runs after the failed command");
    }

    @Test
    void aBatchTimesOutAsAWholeAndIsKilled() {
        var e = assertThrows(IOException.class, () -> CommandRunner.system(REAPER.reaper(), Duration.ofMillis(200))
                .runAll(List.of(List.of("true"), List.of("sleep", marker))));
        assertTrue(e.getMessage().endsWith("still running after 400 ms; killed"), e.getMessage());
        assertEquals(List.of(), TestProcesses.sleepers(marker), "the sleep is killed with its shell");
    }

    @Test
    void aBatchRefusesAnArgumentWithANulByte() {
        var e = assertThrows(IOException.class, () -> CommandRunner.system(REAPER.reaper())
                .runAll(List.of(List.of("ip", "link", "set", "dev", "a\0b", "up"))));
        assertTrue(e.getMessage().startsWith("a command argument holds a NUL byte"), e.getMessage());
    }
}
