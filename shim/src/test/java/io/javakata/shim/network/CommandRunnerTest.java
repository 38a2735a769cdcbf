package io.javakata.shim.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The host's command runner: its timeout fires and kills, whatever the command does with its output. */
@Timeout(30)
class CommandRunnerTest {

    /** A sleep argument no other process on the machine has, to find this test's sleeps in /proc. */
    private final String marker = "60." + ThreadLocalRandom.current().nextInt(100_000, 1_000_000);

    @AfterEach
    void killLeftovers() {
        sleepers().forEach(p -> ProcessHandle.of(p).ifPresent(ProcessHandle::destroyForcibly));
    }

    @Test
    void timeoutKillsTheCommandAndSaysSo() {
        long start = System.nanoTime();
        var e = assertThrows(IOException.class,
                () -> CommandRunner.host(Duration.ofMillis(200)).run(List.of("sleep", marker)));
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        assertEquals("sleep " + marker + ": still running after 200 ms; killed", e.getMessage());
        assertTrue(took.compareTo(Duration.ofSeconds(3)) < 0, () -> "reported after " + took);
        assertEquals(List.of(), sleepers(), "the sleep is killed, not left running");
    }

    @Test
    void timeoutKillsWhatTheCommandStarted() {
        var e = assertThrows(IOException.class, () -> CommandRunner.host(Duration.ofMillis(200))
                .run(List.of("sh", "-c", "sleep " + marker + " & wait")));
        assertTrue(e.getMessage().endsWith("still running after 200 ms; killed"), e.getMessage());
        assertEquals(List.of(), sleepers(), "the shell's child is killed with it");
    }

    @Test
    void exitIsNotHeldByAChildThatKeepsTheOutputOpen() throws IOException {
        long start = System.nanoTime();
        String out = CommandRunner.host(Duration.ofSeconds(20)).run(List.of("sh", "-c", "echo out; sleep " + marker + " &"));
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        assertEquals("out\n", out);
        assertTrue(took.compareTo(Duration.ofSeconds(5)) < 0, () -> "returned after " + took + ", not at the shell's exit");
    }

    @Test
    void failureCarriesTheExitCodeAndStderr() {
        var e = assertThrows(IOException.class,
                () -> CommandRunner.host().run(List.of("sh", "-c", "echo out; echo why >&2; exit 3")));
        assertEquals("sh -c echo out; echo why >&2; exit 3: exit 3: why", e.getMessage());
    }

    @Test
    void stdinIsWhatTheCallerGaveOrNothing() throws IOException {
        assertEquals("a b\nc\n", CommandRunner.host().run(List.of("cat"), "a b\nc\n"));
        assertEquals("", CommandRunner.host().run(List.of("cat")));
    }

    /** A real ip batch in a namespace of its own: the failing line is named, and -force runs the lines after it. */
    @Test
    void anIproute2BatchNamesItsFailingLine() throws IOException {
        String ns = "jk-batch-" + marker;
        CommandRunner host = CommandRunner.host();
        host.run(List.of("ip", "netns", "add", ns));
        try {
            java.nio.file.Path netns = java.nio.file.Path.of("/var/run/netns", ns);
            var e = assertThrows(IOException.class, () -> Iproute2.runBatched(host, List.of(
                    Iproute2.in(netns, "ip", "link", "add", "name", "jk0", "type", "ifb"),
                    Iproute2.in(netns, "ip", "link", "add", "name", "jk0", "type", "ifb"),
                    Iproute2.in(netns, "ip", "link", "add", "name", "jk1", "type", "ifb")), false));
            assertTrue(e.getMessage().startsWith("/usr/bin/nsenter --net=" + netns + " ip link add name jk0 type ifb "
                    + "(line 2 of a batch of 3): "), e.getMessage());
            assertTrue(e.getMessage().contains("File exists"), e.getMessage());
            String links = host.run(Iproute2.showLinks(netns));
            assertEquals(List.of("lo", "jk0"), Iproute2.linkNames(links), "the batch stopped at line 2");

            assertThrows(IOException.class, () -> Iproute2.runBatched(host, List.of(
                    Iproute2.in(netns, "ip", "link", "del", "dev", "jk9"),
                    Iproute2.in(netns, "ip", "link", "del", "dev", "jk0")), true));
            assertEquals(List.of("lo"), Iproute2.linkNames(host.run(Iproute2.showLinks(netns))), "forced on");
        } finally {
            host.run(List.of("ip", "netns", "del", ns));
        }
    }

    private List<Long> sleepers() {
        try (var procs = Files.list(Path.of("/proc"))) {
            return procs.filter(p -> p.getFileName().toString().matches("\\d+")).filter(p -> {
                try {
                    return Files.readString(p.resolve("cmdline"), StandardCharsets.ISO_8859_1).equals("sleep\0" + marker + "\0");
                } catch (IOException e) {
                    return false;
                }
            }).map(p -> Long.parseLong(p.getFileName().toString())).toList();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
