package io.javakata.sys;

import io.javakata.ttrpc.transport.Connection;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;
import java.util.concurrent.locks.ReadWriteLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A connected vsock descriptor as a {@link Connection}: its streams call read(2) and write(2) directly.
 *
 * <p>{@link #close()} first shuts the socket down, which makes a blocked read return end of stream, and
 * closes the descriptor only once no read or write is inside a native call, so a call never lands on a
 * descriptor number the process has meanwhile reused.
 */
final class VsockConnection implements Connection {

    private static final int SHUT_RDWR = 2;
    private static final int CHUNK = 64 * 1024;

    private final int fd;
    private final String description;
    /** Readers and writers hold the read lock for a call; close takes the write lock to close the fd. */
    private final ReadWriteLock fdLock = new ReentrantReadWriteLock();
    private volatile boolean closed;
    private final InputStream input = new Input();
    private final OutputStream output = new Output();

    VsockConnection(int fd, String description) {
        this.fd = fd;
        this.description = description;
    }

    @Override
    public InputStream input() {
        return input;
    }

    @Override
    public OutputStream output() {
        return output;
    }

    @Override
    public String describe() {
        return description;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = LibC.callState(arena);
            int ignored = (int) LibC.SHUTDOWN.invokeExact(state, fd, SHUT_RDWR);
        } catch (Throwable t) {
            throw LibC.propagate(t);
        }
        fdLock.writeLock().lock();
        try {
            Fds.close(fd);
        } finally {
            fdLock.writeLock().unlock();
        }
    }

    private int readSome(byte[] b, int off, int len) throws IOException {
        Objects.checkFromIndexSize(off, len, b.length);
        if (len == 0) {
            return 0;
        }
        fdLock.readLock().lock();
        try (Arena arena = Arena.ofConfined()) {
            if (closed) {
                return -1;
            }
            MemorySegment buffer = arena.allocate(Math.min(len, CHUNK));
            while (true) {
                MemorySegment state = LibC.callState(arena);
                long n = (long) LibC.READ.invokeExact(state, fd, buffer, buffer.byteSize());
                try {
                    LibC.check("read(" + description + ")", n, state);
                } catch (ErrnoException e) {
                    if (e.errno() == LibC.EINTR) {
                        continue;
                    }
                    throw e;
                }
                if (n == 0) {
                    return -1;
                }
                MemorySegment.copy(buffer, 0, MemorySegment.ofArray(b), off, n);
                return (int) n;
            }
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw LibC.propagate(t);
        } finally {
            fdLock.readLock().unlock();
        }
    }

    private void writeAll(byte[] b, int off, int len) throws IOException {
        Objects.checkFromIndexSize(off, len, b.length);
        fdLock.readLock().lock();
        try {
            if (closed) {
                throw new IOException(description + " is closed");
            }
            Fds.writeAll(fd, b, off, len, description);
        } finally {
            fdLock.readLock().unlock();
        }
    }

    private final class Input extends InputStream {
        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return readSome(one, 0, 1) == -1 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            return readSome(b, off, len);
        }

        @Override
        public void close() {
            VsockConnection.this.close();
        }
    }

    private final class Output extends OutputStream {
        @Override
        public void write(int b) throws IOException {
            writeAll(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            writeAll(b, off, len);
        }

        @Override
        public void close() {
            VsockConnection.this.close();
        }
    }
}
