package io.javakata.ttrpc.transport;

import java.io.IOException;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A bounded in-memory byte queue with blocking reads and writes. Unlike {@code PipedInputStream} it does
 * not care which threads write, so short-lived virtual threads can share it.
 */
final class BytePipe {

    private final byte[] ring;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition notEmpty = lock.newCondition();
    private final Condition notFull = lock.newCondition();
    private int head;
    private int size;
    private boolean closed;

    BytePipe(int capacity) {
        this.ring = new byte[capacity];
    }

    /** Blocks until at least one byte is there; -1 once closed and drained. */
    int read(byte[] b, int off, int len) throws IOException {
        if (len == 0) {
            return 0;
        }
        lock.lock();
        try {
            while (size == 0 && !closed) {
                await(notEmpty);
            }
            if (size == 0) {
                return -1;
            }
            int n = Math.min(len, size);
            for (int i = 0; i < n; i++) {
                b[off + i] = ring[(head + i) % ring.length];
            }
            head = (head + n) % ring.length;
            size -= n;
            notFull.signalAll();
            return n;
        } finally {
            lock.unlock();
        }
    }

    /** Blocks while full; fails once closed. */
    void write(byte[] b, int off, int len) throws IOException {
        lock.lock();
        try {
            int done = 0;
            while (done < len) {
                while (size == ring.length && !closed) {
                    await(notFull);
                }
                if (closed) {
                    throw new IOException("pipe closed");
                }
                int n = Math.min(len - done, ring.length - size);
                for (int i = 0; i < n; i++) {
                    ring[(head + size + i) % ring.length] = b[off + done + i];
                }
                size += n;
                done += n;
                notEmpty.signalAll();
            }
        } finally {
            lock.unlock();
        }
    }

    void close() {
        lock.lock();
        try {
            closed = true;
            notEmpty.signalAll();
            notFull.signalAll();
        } finally {
            lock.unlock();
        }
    }

    private static void await(Condition condition) throws IOException {
        try {
            condition.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted while waiting on an in-memory pipe");
        }
    }
}
