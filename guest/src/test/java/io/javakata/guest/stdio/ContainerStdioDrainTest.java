package io.javakata.guest.stdio;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.FileOutputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link ContainerStdio#outputsDrained}: the wait for the end of a process's output is bounded when a writer
 * outlives the process (real FIFOs; this test holds the write ends, as a daemon's child would), and the cut-off
 * delivers every byte written before it.
 */
@Timeout(30)
class ContainerStdioDrainTest {

    @TempDir
    Path dir;

    private static byte[] drain(StreamBuffer buffer) throws InterruptedException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        while (true) {
            StreamBuffer.Chunk chunk = buffer.read(64 * 1024);
            if (chunk.eof()) {
                return out.toByteArray();
            }
            out.writeBytes(chunk.data());
        }
    }

    @Test
    void outputEndedByItsWritersIsDoneWithoutWaitingForTheBound() throws Exception {
        FifoStdio stdio = new FifoStdio("c1", dir, false, true, true);
        stdio.prepare();
        try (FileOutputStream out = new FileOutputStream(dir.resolve("stdout").toFile());
             FileOutputStream err = new FileOutputStream(dir.resolve("stderr").toFile())) {
            out.write("all\n".getBytes(US_ASCII));
        }
        long start = System.nanoTime();
        stdio.outputsDrained(Duration.ofSeconds(20)).get(10, TimeUnit.SECONDS);
        assertTrue(Duration.ofNanos(System.nanoTime() - start).compareTo(Duration.ofSeconds(5)) < 0);
        assertEquals("all\n", new String(drain(stdio.stdout()), US_ASCII));
        assertEquals("", new String(drain(stdio.stderr()), US_ASCII));
        stdio.close();
    }

    @Test
    void aWriterThatStaysOpenIsCutOffAfterTheBoundWithWhatItWroteBefore() throws Exception {
        FifoStdio stdio = new FifoStdio("c2", dir, false, true, true);
        stdio.prepare();
        try (FileOutputStream out = new FileOutputStream(dir.resolve("stdout").toFile());
             FileOutputStream err = new FileOutputStream(dir.resolve("stderr").toFile())) {
            out.write("before\n".getBytes(US_ASCII));
            err.write("warn\n".getBytes(US_ASCII));
            long start = System.nanoTime();
            Duration bound = Duration.ofMillis(300);
            stdio.outputsDrained(bound).get(10, TimeUnit.SECONDS);
            Duration took = Duration.ofNanos(System.nanoTime() - start);
            assertTrue(took.compareTo(bound.minusMillis(50)) >= 0, "cut off after " + took);
            assertEquals("before\n", new String(drain(stdio.stdout()), US_ASCII));
            assertEquals("warn\n", new String(drain(stdio.stderr()), US_ASCII));
            // After the cut-off the writer is still drained, never blocked: far more than a pipe holds.
            byte[] late = new byte[512 * 1024];
            out.write(late);
            err.write(late);
            assertTrue(stdio.stdout().read(16, 10, TimeUnit.MILLISECONDS).eof(), "late output is not delivered");
        }
        stdio.close();
    }

    @Test
    void aCutOffWhileTheBufferIsFullStillDeliversWhatThePipeHeld() throws Exception {
        FifoStdio stdio = new FifoStdio("c3", dir, false, true, false);
        stdio.prepare();
        byte[] written = new byte[ContainerStdio.BUFFER_BYTES + 50_000];
        for (int i = 0; i < written.length; i++) {
            written[i] = (byte) ('a' + i % 26);
        }
        try (FileOutputStream out = new FileOutputStream(dir.resolve("stdout").toFile())) {
            // Fits: the buffer, the copier's chunk in hand and the pipe's 64 KiB; nobody reads yet.
            CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> {
                try {
                    out.write(written);
                } catch (java.io.IOException e) {
                    throw new IllegalStateException(e);
                }
            });
            writer.get(10, TimeUnit.SECONDS);
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (stdio.stdout().buffered() < ContainerStdio.BUFFER_BYTES) {
                assertTrue(System.nanoTime() < deadline, "the buffer never filled up");
                Thread.sleep(5);
            }
            CompletableFuture<Void> drained = stdio.outputsDrained(Duration.ofMillis(100));
            // The copier is stuck on the full buffer: the output cannot end before somebody reads.
            assertThrows(TimeoutException.class, () -> drained.get(500, TimeUnit.MILLISECONDS));
            assertFalse(drained.isDone());
            byte[] read = drain(stdio.stdout());
            assertEquals(written.length, read.length);
            assertArrayEquals(written, read);
            drained.get(5, TimeUnit.SECONDS);
        }
        stdio.close();
    }

    @Test
    void outputNeverOpenedEndsAtTheBound() throws Exception {
        // prepare() never ran (the process never started): nothing can arrive.
        FifoStdio stdio = new FifoStdio("c4", dir, false, true, true);
        stdio.outputsDrained(Duration.ofMillis(100)).get(5, TimeUnit.SECONDS);
        assertTrue(stdio.stdout().read(16).eof());
        stdio.close();
    }
}
