package io.javakata.guest.stdio;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A bounded byte queue between one producer (the copier draining a container's stdout or stderr
 * FIFO) and the readers of {@code ReadStdout}/{@code ReadStderr}.
 *
 * <p>The producer blocks in {@link #write} while the buffer is full, so a host that stops reading
 * stops the copier, the FIFO fills up and the container blocks on its next write: back-pressure
 * reaches the container instead of the guest's memory. {@link #finish()} marks end of stream;
 * readers still get every buffered byte before {@link Chunk#eof()} is reported.
 * {@link #discard()} drops everything and wakes everyone (container removed).
 *
 * <p>The buffer starts at {@link #INITIAL_BYTES} and doubles, up to its capacity, only while the host reads slower
 * than the container writes: a pod's containers each have two, most of which never hold more than a few lines, and
 * in the guest every array the agent allocates is guest RAM touched and, under TCG, young collections of ~100 ms
 * (docs/benchmarks.md, "The agent's heap during a pod start").
 *
 * <p>Thread-safe. Any number of readers; chunks are handed out in order, each byte once.
 */
public final class StreamBuffer {

    /** Bytes returned by one read; {@code eof} is true only with empty data. */
    public record Chunk(byte[] data, boolean eof) {
        static final Chunk EOF = new Chunk(new byte[0], true);
    }

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition readable = lock.newCondition();
    private final Condition writable = lock.newCondition();
    /** The size a buffer starts at. */
    static final int INITIAL_BYTES = 16 * 1024;

    private final int capacity;
    private byte[] ring;
    private int head;
    private int size;
    private boolean finished;
    private boolean discarded;

    public StreamBuffer(int capacity) {
        if (capacity <= 0) {
            throw new IllegalArgumentException("capacity=" + capacity + ": must be positive");
        }
        this.capacity = capacity;
        this.ring = new byte[Math.min(capacity, INITIAL_BYTES)];
    }

    /**
     * Appends all of {@code data[off, off+len)}, blocking while the buffer is full.
     *
     * @return false if the buffer was discarded (the bytes are dropped and the producer should stop)
     */
    public boolean write(byte[] data, int off, int len) throws InterruptedException {
        lock.lock();
        try {
            int written = 0;
            while (written < len) {
                if (size == ring.length && ring.length < capacity && !discarded) {
                    grow();
                }
                while (size == ring.length && !discarded) {
                    writable.await();
                }
                if (discarded) {
                    return false;
                }
                if (finished) {
                    throw new IllegalStateException("write after finish");
                }
                int tail = (head + size) % ring.length;
                int n = Math.min(len - written, Math.min(ring.length - size, ring.length - tail));
                System.arraycopy(data, off + written, ring, tail, n);
                size += n;
                written += n;
                readable.signalAll();
            }
            return true;
        } finally {
            lock.unlock();
        }
    }

    /** Doubles the ring, at most to the capacity, its bytes moved to the start. Called with the lock held. */
    private void grow() {
        byte[] bigger = new byte[(int) Math.min(capacity, 2L * ring.length)];
        int first = Math.min(size, ring.length - head);
        System.arraycopy(ring, head, bigger, 0, first);
        System.arraycopy(ring, 0, bigger, first, size - first);
        ring = bigger;
        head = 0;
    }

    /** Bytes the buffer has room for now (it may grow up to its capacity). */
    int allocated() {
        lock.lock();
        try {
            return ring.length;
        } finally {
            lock.unlock();
        }
    }

    /** Marks end of stream: readers drain what is buffered, then see eof. Idempotent. */
    public void finish() {
        lock.lock();
        try {
            finished = true;
            readable.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Drops buffered bytes and makes every later read return eof and every write return false. */
    public void discard() {
        lock.lock();
        try {
            discarded = true;
            finished = true;
            size = 0;
            readable.signalAll();
            writable.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Blocks until data or end of stream; returns at most {@code maxLen} bytes (at least 1 unless eof). */
    public Chunk read(int maxLen) throws InterruptedException {
        return read(maxLen, Long.MAX_VALUE, TimeUnit.NANOSECONDS);
    }

    /**
     * As {@link #read(int)}, but gives up after the timeout and then returns an empty, non-eof chunk.
     */
    public Chunk read(int maxLen, long timeout, TimeUnit unit) throws InterruptedException {
        if (maxLen <= 0) {
            throw new IllegalArgumentException("max_len=" + maxLen + ": must be positive");
        }
        long remaining = unit.toNanos(timeout);
        lock.lock();
        try {
            while (size == 0 && !finished) {
                if (remaining <= 0) {
                    return new Chunk(new byte[0], false);
                }
                remaining = readable.awaitNanos(remaining);
            }
            if (size == 0) {
                return Chunk.EOF;
            }
            int n = Math.min(maxLen, size);
            byte[] out = new byte[n];
            int first = Math.min(n, ring.length - head);
            System.arraycopy(ring, head, out, 0, first);
            System.arraycopy(ring, 0, out, first, n - first);
            head = (head + n) % ring.length;
            size -= n;
            writable.signalAll();
            return new Chunk(out, false);
        } finally {
            lock.unlock();
        }
    }

    /** Bytes currently buffered. */
    public int buffered() {
        lock.lock();
        try {
            return size;
        } finally {
            lock.unlock();
        }
    }
}
