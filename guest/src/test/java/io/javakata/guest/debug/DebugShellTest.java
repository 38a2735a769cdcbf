package io.javakata.guest.debug;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(30)
class DebugShellTest {

    @TempDir
    Path tmp;

    @Test
    void sessionIsTheSixthFieldCountedAfterTheCommandName() throws Exception {
        Path stat = tmp.resolve("stat");
        Files.writeString(stat, "4242 (a) b (c)) S 1 4242 4240 34816 4242 4194560 0\n", StandardCharsets.US_ASCII);
        assertEquals(4240, DebugShell.sessionOf(stat));
        Files.writeString(stat, "garbage");
        assertEquals(-1, DebugShell.sessionOf(stat));
        assertEquals(-1, DebugShell.sessionOf(tmp.resolve("missing")));
    }

    @Test
    void killSessionKillsEveryProcessOfThatSessionAndNoOther() throws Exception {
        // setsid makes sh a session leader (its pid is the session id); it starts a second member in the background.
        Process leader = new ProcessBuilder("setsid", "sh", "-c", "sleep 600 & exec sleep 600").start();
        Process outsider = new ProcessBuilder("sleep", "600").start();
        try {
            int sid = (int) leader.pid();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (members(sid) < 2 && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertEquals(2, members(sid), "the leader and its background sleep");
            assertEquals(2, DebugShell.killSession(Path.of("/proc"), sid));
            assertTrue(leader.waitFor(10, TimeUnit.SECONDS));
            assertTrue(outsider.isAlive(), "a process of another session lives on");
        } finally {
            leader.destroyForcibly();
            outsider.destroyForcibly();
        }
    }

    @Test
    void aReadThatBeginsWithTheSessionStartBeginsANewSession() {
        byte[] start = io.javakata.debugconsole.DebugConsoleProtocol.SESSION_START;
        byte[] withInput = new byte[start.length + 3];
        System.arraycopy(start, 0, withInput, 0, start.length);
        assertTrue(DebugConsole.startsSession(withInput, withInput.length));
        assertTrue(DebugConsole.startsSession(start, start.length));
        assertFalse(DebugConsole.startsSession(start, start.length - 1), "cut short");
        assertFalse(DebugConsole.startsSession("ls -l\n".getBytes(StandardCharsets.US_ASCII), 6));
    }

    private static int members(int sid) throws Exception {
        int n = 0;
        try (var entries = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
            for (Path entry : entries) {
                if (DebugShell.sessionOf(entry.resolve("stat")) == sid) {
                    n++;
                }
            }
        }
        return n;
    }
}
