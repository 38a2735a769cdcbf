package io.javakata.guest.stdio;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import io.javakata.sys.Fds;
import io.javakata.sys.Terminals;

/** TerminalStdio over a real pty pair, as runc's console socket would hand it over. */
@Timeout(20)
class TerminalStdioTest {

    private static final int O_NOCTTY = 0400;

    @TempDir
    Path dir;

    @Test
    void masterIsStdoutAndStdinResizesAndEndsWhenTheSlaveCloses() throws Exception {
        int master = Fds.open(Path.of("/dev/ptmx"), Fds.O_RDWR | O_NOCTTY | Fds.O_CLOEXEC, 0);
        int slave = Fds.open(Path.of("/dev/pts/" + Terminals.unlockSlave(master)),
                Fds.O_RDWR | O_NOCTTY | Fds.O_CLOEXEC, 0);
        TerminalStdio stdio = new TerminalStdio("c1/e1", dir.resolve("console.sock"), true, true);
        stdio.attach(master);
        assertNull(stdio.stderr(), "a terminal has no separate stderr");

        stdio.resize(24, 100);
        assertEquals(new Terminals.WindowSize(24, 100), Terminals.windowSize(slave));

        stdio.writeStdin("typed\n".getBytes(US_ASCII));
        byte[] line = new byte[64];
        int n = Terminals.input(slave).read(line, 0, line.length);
        assertEquals("typed\n", new String(line, 0, n, US_ASCII));

        Terminals.output(slave).write("shown\n".getBytes(US_ASCII));
        Fds.close(slave);
        stdio.outputsDone().get(10, TimeUnit.SECONDS);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        // The slave echoes what was typed (ECHO) and the line discipline adds \r (ONLCR).
        for (StreamBuffer.Chunk c = stdio.stdout().read(64); !c.eof(); c = stdio.stdout().read(64)) {
            out.writeBytes(c.data());
        }
        assertEquals("typed\r\nshown\r\n", out.toString(US_ASCII));
        stdio.close();
    }

    @Test
    void aResizeBeforeThePtyArrivesIsAppliedWhenItDoes() throws Exception {
        int master = Fds.open(Path.of("/dev/ptmx"), Fds.O_RDWR | O_NOCTTY | Fds.O_CLOEXEC, 0);
        int slave = Fds.open(Path.of("/dev/pts/" + Terminals.unlockSlave(master)),
                Fds.O_RDWR | O_NOCTTY | Fds.O_CLOEXEC, 0);
        TerminalStdio stdio = new TerminalStdio("c1/e2", dir.resolve("console.sock"), true, true);
        stdio.resize(30, 100);
        stdio.resize(43, 132);
        stdio.attach(master);
        assertEquals(new Terminals.WindowSize(43, 132), Terminals.windowSize(slave), "the last size asked for");
        Fds.close(slave);
        stdio.outputsDone().get(10, TimeUnit.SECONDS);
        stdio.close();
    }

    @Test
    void connectListensOnTheConsoleSocketAndRefusesAMessageWithoutAPtyMaster() throws Exception {
        Path socket = dir.resolve("tty/1.sock");
        TerminalStdio stdio = new TerminalStdio("c1/e3", socket, true, true, Duration.ofSeconds(5));
        IOException e = assertThrows(IOException.class, () -> stdio.connect(runtime -> {
            assertEquals(socket, runtime.consoleSocket());
            assertEquals(Path.of("/dev/null").toFile(), runtime.stdin().file());
            assertSame(ProcessBuilder.Redirect.DISCARD, runtime.stdout());
            assertSame(ProcessBuilder.Redirect.DISCARD, runtime.stderr());
            // The JDK cannot send SCM_RIGHTS: a runtime that connects and sends a plain byte is refused.
            try (SocketChannel channel = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
                channel.write(ByteBuffer.wrap(new byte[] {1}));
            }
        }));
        assertTrue(e.getMessage().contains("without an SCM_RIGHTS descriptor"), e.getMessage());
        assertFalse(Files.exists(socket), "the console socket is gone once connect returned");
        assertNull(stdio.stderr(), "a terminal has no separate stderr");
        stdio.close();
        stdio.outputsDone().get(10, TimeUnit.SECONDS);
    }

    @Test
    void aRuntimeThatSendsNoPtyFailsWithinTheWaitAndOneThatFailsPassesItOn() throws Exception {
        TerminalStdio silent = new TerminalStdio("c1/e4", dir.resolve("tty/2.sock"), false, true,
                Duration.ofMillis(200));
        assertThrows(IOException.class, () -> silent.connect(runtime -> { }));
        silent.close();
        TerminalStdio failing = new TerminalStdio("c1/e5", dir.resolve("tty/3.sock"), false, false);
        IOException e = assertThrows(IOException.class, () -> failing.connect(runtime -> {
            throw new IOException("runc exec c1 failed (exit 1): no such file");
        }));
        assertEquals("runc exec c1 failed (exit 1): no such file", e.getMessage());
        assertNull(failing.stdout(), "stdout was not asked for");
        failing.close();
        failing.outputsDone().get(10, TimeUnit.SECONDS);
    }
}
