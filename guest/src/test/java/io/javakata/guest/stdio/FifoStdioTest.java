package io.javakata.guest.stdio;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.ByteArrayOutputStream;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** FifoStdio connected around a fake runtime that opens the FIFOs as runc's redirects would. */
@Timeout(20)
class FifoStdioTest {

    @TempDir
    Path dir;

    private static String drain(StreamBuffer buffer) throws InterruptedException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (StreamBuffer.Chunk c = buffer.read(64); !c.eof(); c = buffer.read(64)) {
            out.writeBytes(c.data());
        }
        return out.toString(US_ASCII);
    }

    @Test
    void theRuntimeGetsTheFifosAndTheProcessTalksThroughThem() throws Exception {
        FifoStdio stdio = new FifoStdio("c1", dir, true, true, true);
        InputStream[] stdin = new InputStream[1];
        OutputStream[] outputs = new OutputStream[2];
        stdio.connect(runtime -> {
            assertNull(runtime.consoleSocket(), "no terminal, no console socket");
            assertEquals(dir.resolve("stdin").toFile(), runtime.stdin().file());
            assertEquals(dir.resolve("stdout").toFile(), runtime.stdout().file());
            assertEquals(dir.resolve("stderr").toFile(), runtime.stderr().file());
            // What the runtime's process does with its stdio: each open waits for the agent's end.
            stdin[0] = new FileInputStream(runtime.stdin().file());
            outputs[0] = new FileOutputStream(runtime.stdout().file());
            outputs[1] = new FileOutputStream(runtime.stderr().file());
        });
        stdio.writeStdin("typed\n".getBytes(US_ASCII));
        stdio.closeStdin();
        assertEquals("typed\n", new String(stdin[0].readAllBytes(), US_ASCII), "then end of file");
        stdin[0].close();
        assertThrows(IOException.class, () -> stdio.writeStdin("late".getBytes(US_ASCII)));

        outputs[0].write("out\n".getBytes(US_ASCII));
        outputs[1].write("err\n".getBytes(US_ASCII));
        outputs[0].close();
        outputs[1].close();
        stdio.outputsDone().get(10, TimeUnit.SECONDS);
        assertEquals("out\n", drain(stdio.stdout()));
        assertEquals("err\n", drain(stdio.stderr()));
        stdio.resize(24, 80); // no terminal: nothing to resize, and no failure
        stdio.close();
    }

    @Test
    void streamsNotAskedForAreNullOrDiscardedAndHaveNoFifo() throws Exception {
        FifoStdio stdio = new FifoStdio("c2", dir, false, false, false);
        stdio.connect(runtime -> {
            assertEquals(Path.of("/dev/null").toFile(), runtime.stdin().file());
            assertSame(ProcessBuilder.Redirect.DISCARD, runtime.stdout());
            assertSame(ProcessBuilder.Redirect.DISCARD, runtime.stderr());
        });
        assertEquals(false, stdio.stdinWanted());
        assertNull(stdio.stdout());
        assertNull(stdio.stderr());
        try (var files = Files.list(dir)) {
            assertEquals(0, files.count());
        }
        stdio.outputsDone().get(1, TimeUnit.SECONDS);
        stdio.close();
    }

    @Test
    void aRuntimeThatFailsPassesItsFailureOnAndCloseUnblocksTheOpeners() throws Exception {
        FifoStdio stdio = new FifoStdio("c3", dir, true, true, true);
        IOException failure = assertThrows(IOException.class, () -> stdio.connect(runtime -> {
            throw new IOException("runc create c3 failed (exit 1): no such file");
        }));
        assertEquals("runc create c3 failed (exit 1): no such file", failure.getMessage());
        // Nobody opened the runtime's ends: close must not leave the agent's openers blocked.
        stdio.close();
        stdio.outputsDone().get(10, TimeUnit.SECONDS);
        assertEquals(true, stdio.stdout().read(1).eof());
    }
}
