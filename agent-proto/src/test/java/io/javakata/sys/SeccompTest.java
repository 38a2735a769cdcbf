package io.javakata.sys;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The filter in a real process: a root shell under ConfinedExec cannot make setuid files or device nodes. */
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
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                ConfinedExec.class.getName(), "/bin/sh", "-c", script).redirectErrorStream(true).start();
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
        int mode = (int) Files.getAttribute(dir.resolve("plain"), "unix:mode");
        assertEquals(0, mode & 06000, "no setuid/setgid bit: " + Integer.toOctalString(mode));
        assertFalse(Files.exists(dir.resolve("chr")) || Files.exists(dir.resolve("blk")));
        if (Files.exists(dir.resolve("suid-by-create"))) {
            assertEquals(0, (int) Files.getAttribute(dir.resolve("suid-by-create"), "unix:mode") & 06000);
        }
    }

    @Test
    void aMissingProgramExits126WithAMessage() throws Exception {
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                ConfinedExec.class.getName(), "/nonexistent/prog").redirectErrorStream(true).start();
        assertTrue(p.waitFor(50, TimeUnit.SECONDS));
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(126, p.exitValue(), out);
        assertTrue(out.contains("execv(/nonexistent/prog)") && out.contains("ENOENT"), out);
    }
}
