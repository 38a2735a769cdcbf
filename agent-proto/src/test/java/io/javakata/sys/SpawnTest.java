package io.javakata.sys;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** posix_spawn as the agent runs crun: redirects, exactly the environment given, nothing inherited beyond 0-2. */
@Timeout(30)
class SpawnTest {

    private static final Map<String, String> PATH = Map.of("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");

    @TempDir
    Path dir;

    /** Waits for the child with a deadline (this JVM reaps it; no reaper runs in this test). */
    private static int exitOf(int pid) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (System.nanoTime() < deadline) {
            OptionalInt code = Processes.reap(pid);
            if (code.isPresent()) {
                return code.getAsInt();
            }
            Thread.sleep(5);
        }
        throw new AssertionError("pid " + pid + " still runs");
    }

    private int run(List<String> argv, Map<String, String> env, Path directory, Spawn.Stdio in, Spawn.Stdio out,
            Spawn.Stdio err) throws Exception {
        return exitOf(Spawn.spawn(argv, env, directory, in, out, err));
    }

    @Test
    void outputGoesToItsFilesWithTheGivenEnvironmentAndExitCode() throws Exception {
        Path out = dir.resolve("out");
        Map<String, String> env = Map.of("PATH", PATH.get("PATH"), "GREETING", "hello");
        assertEquals(3, run(List.of("sh", "-c", "echo $GREETING; echo oops >&2; echo ${HOME:-no home}; exit 3"), env,
                null, Spawn.INHERIT, new Spawn.Stdio.WriteTo(out, false), new Spawn.Stdio.SameAs(1)));
        assertEquals("hello\noops\nno home\n", Files.readString(out), "stderr merged, and HOME not inherited");
    }

    @Test
    void appendKeepsWhatTheFileHeldAndTruncateDoesNot() throws Exception {
        Path out = dir.resolve("out");
        Files.writeString(out, "before\n");
        assertEquals(0, run(List.of("echo", "one"), PATH, null, Spawn.INHERIT, new Spawn.Stdio.WriteTo(out, true),
                Spawn.INHERIT));
        assertEquals("before\none\n", Files.readString(out));
        assertEquals(0, run(List.of("echo", "two"), PATH, null, Spawn.INHERIT, new Spawn.Stdio.WriteTo(out, false),
                Spawn.INHERIT));
        assertEquals("two\n", Files.readString(out));
    }

    @Test
    void stdinFromAFileAndTheWorkingDirectory() throws Exception {
        Path in = dir.resolve("in");
        Path out = dir.resolve("out");
        Files.writeString(in, "from the file\n");
        assertEquals(0, run(List.of("sh", "-c", "cat; pwd"), PATH, dir, new Spawn.Stdio.ReadFrom(in),
                new Spawn.Stdio.WriteTo(out, false), Spawn.INHERIT));
        assertEquals("from the file\n" + dir.toRealPath() + "\n", Files.readString(out));
    }

    /**
     * The child holds only 0-2 (the JVM's own descriptors, this test's open file among them, are closed), blocks no
     * signal and ignores none but glibc's two internal ones (32 and 33, as in a child the JDK starts): the JVM's
     * threads block some, and a container's runtime must start clean.
     */
    @Test
    void nothingLeaksIntoTheChild() throws Exception {
        Path fds = dir.resolve("fds");
        Path signals = dir.resolve("signals");
        try (var held = Files.newInputStream(Files.writeString(dir.resolve("held"), "x"))) {
            assertEquals(0, run(List.of("sh", "-c", "ls /proc/$$/fd"), PATH, null, Spawn.INHERIT,
                    new Spawn.Stdio.WriteTo(fds, false), new Spawn.Stdio.SameAs(1)));
            assertEquals(0, run(List.of("grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"), PATH, null,
                    Spawn.INHERIT, new Spawn.Stdio.WriteTo(signals, false), Spawn.INHERIT));
        }
        assertEquals(List.of("0", "1", "2"), Files.readAllLines(fds));
        List<String> lines = Files.readAllLines(signals);
        assertEquals("SigBlk:\t0000000000000000", lines.get(0));
        long ignored = Long.parseUnsignedLong(lines.get(1).substring("SigIgn:\t".length()), 16);
        assertEquals(0, ignored & ~0x180000000L, () -> "ignored: " + lines.get(1));
    }

    @Test
    void aMissingProgramOrFileIsAnErrorNamingIt() {
        var noProgram = assertThrows(ErrnoException.class, () -> Spawn.spawn(List.of("/no/such/program"), PATH, null,
                Spawn.INHERIT, Spawn.INHERIT, Spawn.INHERIT));
        assertEquals(2, noProgram.errno());
        assertTrue(noProgram.getMessage().startsWith("spawn /no/such/program failed: errno 2 ENOENT"),
                noProgram.getMessage());

        Path missing = dir.resolve("missing");
        var noFile = assertThrows(ErrnoException.class, () -> Spawn.spawn(List.of("true"), PATH, null,
                new Spawn.Stdio.ReadFrom(missing), Spawn.INHERIT, Spawn.INHERIT));
        assertTrue(noFile.getMessage().startsWith("spawn true (stdin " + missing + ") failed: errno 2 ENOENT"),
                noFile.getMessage());
    }

    @Test
    void anEmptyCommandIsRefused() {
        assertThrows(IllegalArgumentException.class,
                () -> Spawn.spawn(List.of(), PATH, null, Spawn.INHERIT, Spawn.INHERIT, Spawn.INHERIT));
    }
}
