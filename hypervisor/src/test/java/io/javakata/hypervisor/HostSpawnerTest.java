package io.javakata.hypervisor;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Real processes, a real cgroup (needs root, which these machines have). */
@Timeout(60)
class HostSpawnerTest {

    @TempDir
    Path dir;

    @Test
    void theCommandRunsWithItsOwnPidAndArguments() throws Exception {
        Process process = HostSpawner.start(List.of("/bin/sleep", "600"), List.of(), dir.resolve("log"));
        try {
            // setpriv and the shell exec, they do not fork: the pid Java knows ends up running the command.
            assertEquals(List.of("/bin/sleep", "600"), awaitExec(process, "/bin/sleep"));
        } finally {
            process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void theProcessSitsInTheCgroupFromItsStart() throws Exception {
        Path cgroup = testCgroup();
        try {
            Process process = HostSpawner.start(List.of("/bin/sleep", "600"), List.of(cgroup), dir.resolve("log"));
            try {
                awaitExec(process, "/bin/sleep");
                assertEquals(Long.toString(process.pid()), Files.readString(cgroup.resolve("cgroup.procs")).strip());
            } finally {
                process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        } finally {
            Files.deleteIfExists(cgroup);
        }
    }

    @Test
    void aCgroupItCannotJoinStopsItBeforeTheCommandRuns() throws Exception {
        Path log = dir.resolve("log");
        Path marker = dir.resolve("ran");
        Process process = HostSpawner.start(List.of("/usr/bin/touch", marker.toString()),
                List.of(dir.resolve("no-such-cgroup")), log);
        assertTrue(process.waitFor(10, TimeUnit.SECONDS));
        assertEquals(125, process.exitValue());
        assertFalse(Files.exists(marker), "the command must not run outside its cgroup");
        assertTrue(Files.readString(log).contains("cgroup.procs"), Files.readString(log));
    }

    @Test
    void theProcessDiesWithTheJvmThatStartedIt() throws Exception {
        // A child JVM starts `sleep` through HostSpawner and prints its pid; killing that JVM must end `sleep`.
        String java = ProcessHandle.current().info().command().orElseThrow();
        Process jvm = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), SpawnAndWait.class.getName(),
                dir.resolve("log").toString()).redirectErrorStream(true).start();
        long sleeper;
        try (BufferedReader out = new BufferedReader(new InputStreamReader(jvm.getInputStream(), StandardCharsets.UTF_8))) {
            String line = out.readLine();
            assertTrue(line != null && line.matches("\\d+"), "child JVM said " + line);
            sleeper = Long.parseLong(line);
            ProcessHandle handle = ProcessHandle.of(sleeper).orElseThrow();
            jvm.destroyForcibly();
            assertTrue(jvm.waitFor(10, TimeUnit.SECONDS));
            assertTrue(ChildProcesses.awaitExit(handle, Duration.ofSeconds(10)),
                    "sleep " + sleeper + " outlived the JVM that started it");
        } finally {
            jvm.destroyForcibly();
        }
    }

    @Test
    void aConfinedSpawnerConfinesItsOwnThreadOnceBeforeItStartsAnything() throws Exception {
        List<String> applied = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
        HostSpawner.Confined confined = new HostSpawner.Confined("test-confined",
                () -> applied.add(Thread.currentThread().getName()));
        for (int i = 0; i < 2; i++) {
            Process process = HostSpawner.start(List.of("/bin/true"), List.of(), dir.resolve("log" + i),
                    Path.of("/dev/null"), confined);
            assertTrue(process.waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, process.exitValue());
        }
        assertEquals(List.of("test-confined"), applied);
    }

    @Test
    void nothingStartsFromASpawnerThatCouldNotConfineItself() {
        Path marker = dir.resolve("ran");
        HostSpawner.Confined confined = new HostSpawner.Confined("test-unconfinable", () -> {
            throw new IllegalStateException("no seccomp here");
        });
        IOException e = assertThrows(IOException.class, () -> HostSpawner.start(
                List.of("/usr/bin/touch", marker.toString()), List.of(), dir.resolve("log"), Path.of("/dev/null"),
                confined));
        assertTrue(e.getMessage().contains("spawner test-unconfinable could not confine itself")
                && e.getMessage().contains("no seccomp here"), e.getMessage());
        assertFalse(Files.exists(marker));
    }

    @Test
    void anEmptyCommandIsRefused() {
        var e = assertThrows(IllegalArgumentException.class, () -> HostSpawner.argv(List.of(), List.of()));
        assertEquals("command: must not be empty", e.getMessage());
    }

    /** The process's argv once it has exec'd {@code program}, waiting up to 10 s for that. */
    private static List<String> awaitExec(Process process, String program) throws Exception {
        Path cmdline = Path.of("/proc", Long.toString(process.pid()), "cmdline");
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        List<String> argv = List.of();
        while (System.nanoTime() < deadline) {
            argv = List.of(Files.readString(cmdline).split("\0"));
            if (argv.getFirst().equals(program)) {
                return argv;
            }
            process.waitFor(10, TimeUnit.MILLISECONDS);
        }
        throw new AssertionError("pid " + process.pid() + " still runs " + argv + ", not " + program);
    }

    /** A cgroup of its own in the pids hierarchy (v1) or the v2 tree, whichever this host has. */
    private static Path testCgroup() throws IOException {
        Path root = Path.of("/sys/fs/cgroup");
        Path hierarchy = Files.exists(root.resolve("cgroup.controllers")) ? root : root.resolve("pids");
        return Files.createDirectory(hierarchy.resolve("javakata-spawner-test-" + UUID.randomUUID()));
    }

    /** The child JVM of {@link #theProcessDiesWithTheJvmThatStartedIt}. */
    public static final class SpawnAndWait {
        public static void main(String[] args) throws Exception {
            Process sleeper = HostSpawner.start(List.of("/bin/sleep", "600"), List.of(), Path.of(args[0]));
            System.out.println(sleeper.pid());
            System.out.flush();
            Thread.sleep(Duration.ofMinutes(2)); // killed by the test long before
        }
    }
}
