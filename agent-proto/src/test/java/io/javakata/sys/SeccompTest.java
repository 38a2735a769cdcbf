package io.javakata.sys;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The filter in a real process: a root shell spawned from a thread that installed it (as the shim spawns virtiofsd)
 * cannot make setuid files or device nodes.
 */
@Timeout(60)
class SeccompTest {

    @TempDir
    Path dir;

    @Test
    void programIsWellFormed() {
        List<Seccomp.Insn> program = Seccomp.noPrivilegedFilesProgram();
        assertTrue(program.size() < 64, "small: " + program.size());
        assertEquals(program.size() * 8, Seccomp.bytes(program).length);
        Seccomp.Insn last = program.getLast();
        assertEquals(Seccomp.SECCOMP_RET_ERRNO | Seccomp.EPERM, last.k(), "ends with the deny");
    }

    @Test
    void aRootShellUnderTheFilterMakesOrdinaryFilesButNoSetuidFilesOrDevices() throws Exception {
        String script = String.join("\n",
                "cd " + dir,
                "r() { if \"$@\" 2>/dev/null; then echo \"ok $*\"; else echo \"refused $*\"; fi; }",
                "r touch plain",
                "r chmod 0755 plain",
                "r chmod 4755 plain",
                "r chmod g+s plain",
                "r mkfifo fifo",
                "r mknod chr c 1 3",
                "r mknod blk b 7 0",
                "r mkdir sub",
                "r install -m 4755 /dev/null suid-by-create",
                "r cp -p /bin/true copy",
                "echo done");
        // The filter is the installing thread's and its children's only: this test's other threads keep none.
        CompletableFuture<Process> spawned = new CompletableFuture<>();
        Thread.ofPlatform().name("seccomp-test-spawner").start(() -> {
            try {
                Seccomp.installNoPrivilegedFiles();
                spawned.complete(new ProcessBuilder("/bin/sh", "-c", script).redirectErrorStream(true).start());
            } catch (Exception e) {
                spawned.completeExceptionally(e);
            }
        });
        Process p = spawned.get(30, TimeUnit.SECONDS);
        assertTrue(p.waitFor(50, TimeUnit.SECONDS));
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), out);
        for (String allowed : List.of("ok touch plain", "ok chmod 0755 plain", "ok mkfifo fifo", "ok mkdir sub",
                "ok cp -p /bin/true copy")) {
            assertTrue(out.contains(allowed + "\n"), allowed + " in:\n" + out);
        }
        for (String refused : List.of("refused chmod 4755 plain", "refused chmod g+s plain", "refused mknod chr c 1 3",
                "refused mknod blk b 7 0")) {
            assertTrue(out.contains(refused + "\n"), refused + " in:\n" + out);
        }
        // This thread holds no filter: the same chmod succeeds here.
        Files.writeString(dir.resolve("here"), "");
        Files.setPosixFilePermissions(dir.resolve("here"), java.nio.file.attribute.PosixFilePermissions.fromString(
                "rwxr-xr-x"));
        new ProcessBuilder("chmod", "4755", dir.resolve("here").toString()).start().waitFor(30, TimeUnit.SECONDS);
        assertEquals(04000, (int) Files.getAttribute(dir.resolve("here"), "unix:mode") & 04000,
                "a process spawned from an unfiltered thread may set setuid");
        int mode = (int) Files.getAttribute(dir.resolve("plain"), "unix:mode");
        assertEquals(0, mode & 06000, "no setuid/setgid bit: " + Integer.toOctalString(mode));
        assertFalse(Files.exists(dir.resolve("chr")) || Files.exists(dir.resolve("blk")));
        if (Files.exists(dir.resolve("suid-by-create"))) {
            assertEquals(0, (int) Files.getAttribute(dir.resolve("suid-by-create"), "unix:mode") & 06000);
        }
    }
}
