package io.javakata.guest.stdio;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(10)
class StreamBufferTest {

    @Test
    void readReturnsAtMostMaxLenInOrderThenEofAfterFinish() throws Exception {
        StreamBuffer buffer = new StreamBuffer(16);
        buffer.write("hello world".getBytes(UTF_8), 0, 11);
        buffer.finish();
        assertEquals("hell", new String(buffer.read(4).data(), UTF_8));
        StreamBuffer.Chunk rest = buffer.read(100);
        assertEquals("o world", new String(rest.data(), UTF_8));
        assertFalse(rest.eof(), "eof only once everything was returned");
        StreamBuffer.Chunk end = buffer.read(100);
        assertTrue(end.eof());
        assertEquals(0, end.data().length);
    }

    @Test
    void readBlocksUntilDataArrives() throws Exception {
        StreamBuffer buffer = new StreamBuffer(16);
        CompletableFuture<StreamBuffer.Chunk> read = CompletableFuture.supplyAsync(() -> {
            try {
                return buffer.read(8);
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        assertFalse(buffer.read(8, 50, TimeUnit.MILLISECONDS).eof(), "a timed-out read is not eof");
        assertFalse(read.isDone());
        buffer.write(new byte[] {1, 2}, 0, 2);
        assertArrayEquals(new byte[] {1, 2}, read.get(5, TimeUnit.SECONDS).data());
    }

    @Test
    void writerBlocksWhileFullAndWrapsAroundTheRing() throws Exception {
        StreamBuffer buffer = new StreamBuffer(4);
        byte[] data = "abcdefghij".getBytes(UTF_8);
        CompletableFuture<Boolean> writer = CompletableFuture.supplyAsync(() -> {
            try {
                return buffer.write(data, 0, data.length);
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        Await.until("the writer fills the ring", Duration.ofSeconds(5), () -> buffer.buffered() == 4);
        assertFalse(writer.isDone(), "10 bytes cannot fit in 4: the writer must wait (back-pressure)");
        StringBuilder got = new StringBuilder();
        while (got.length() < data.length) {
            got.append(new String(buffer.read(3).data(), UTF_8));
        }
        assertEquals("abcdefghij", got.toString());
        assertTrue(writer.get(5, TimeUnit.SECONDS));
    }

    @Test
    void discardReleasesABlockedWriterAndEndsReaders() throws Exception {
        StreamBuffer buffer = new StreamBuffer(2);
        CompletableFuture<Boolean> writer = CompletableFuture.supplyAsync(() -> {
            try {
                return buffer.write(new byte[5], 0, 5);
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        Await.until("the writer fills the ring and waits", Duration.ofSeconds(5), () -> buffer.buffered() == 2);
        buffer.discard();
        assertFalse(writer.get(5, TimeUnit.SECONDS), "write reports the discard");
        assertTrue(buffer.read(10).eof());
    }

    /**
     * A buffer starts small and grows only while its reader lags, keeping every byte in order across the growth and a
     * wrapped ring, and still holds the writer back at its capacity.
     */
    @Test
    void growsWhileTheReaderLagsUpToItsCapacityInOrder() throws Exception {
        int capacity = StreamBuffer.INITIAL_BYTES * 4;
        StreamBuffer buffer = new StreamBuffer(capacity);
        assertEquals(StreamBuffer.INITIAL_BYTES, buffer.allocated(), "a quiet container's buffer stays small");
        byte[] data = new byte[capacity + 1000];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i % 251);
        }
        // Wrap the small ring first: 100 bytes in and out moves its head off 0.
        assertTrue(buffer.write(data, 0, 100));
        assertEquals(100, buffer.read(100).data().length);
        CompletableFuture<Boolean> writer = CompletableFuture.supplyAsync(() -> {
            try {
                return buffer.write(data, 0, data.length);
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        Await.until("the writer fills the grown buffer", Duration.ofSeconds(5), () -> buffer.buffered() == capacity);
        assertEquals(capacity, buffer.allocated(), "grown to its capacity, no further");
        assertFalse(writer.isDone(), "the writer waits at the capacity (back-pressure)");
        java.io.ByteArrayOutputStream got = new java.io.ByteArrayOutputStream();
        while (got.size() < data.length) {
            got.write(buffer.read(7000).data());
        }
        assertArrayEquals(data, got.toByteArray());
        assertTrue(writer.get(5, TimeUnit.SECONDS));
    }
}
