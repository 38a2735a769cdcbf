package io.javakata.ttrpc.transport;

import java.io.InputStream;
import java.io.OutputStream;
import java.util.Objects;

/**
 * One end of an in-memory full-duplex connection, for tests: what one end writes the other reads.
 * Closing either end ends both directions, as closing a socket does. Thread-safe like any
 * {@link Connection}; reads and writes block, and an interrupt makes them throw InterruptedIOException.
 */
public final class PipeConnection implements Connection {

    private static final int CAPACITY = 256 * 1024;

    private final BytePipe in;
    private final BytePipe out;
    private final String description;
    private final InputStream input;
    private final OutputStream output;

    private PipeConnection(BytePipe in, BytePipe out, String description) {
        this.in = in;
        this.out = out;
        this.description = description;
        this.input = new InputStream() {
            @Override
            public int read() throws java.io.IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) == -1 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws java.io.IOException {
                Objects.checkFromIndexSize(off, len, b.length);
                return PipeConnection.this.in.read(b, off, len);
            }

            @Override
            public void close() {
                PipeConnection.this.in.close();
            }
        };
        this.output = new OutputStream() {
            @Override
            public void write(int b) throws java.io.IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws java.io.IOException {
                Objects.checkFromIndexSize(off, len, b.length);
                PipeConnection.this.out.write(b, off, len);
            }

            /** Half-closes: the other end reads end of stream once it has drained what was written. */
            @Override
            public void close() {
                PipeConnection.this.out.close();
            }
        };
    }

    /** Two connected ends: [0] is conventionally the client, [1] the server. */
    public static PipeConnection[] pair() {
        BytePipe aToB = new BytePipe(CAPACITY);
        BytePipe bToA = new BytePipe(CAPACITY);
        return new PipeConnection[] {
            new PipeConnection(bToA, aToB, "pipe:client"),
            new PipeConnection(aToB, bToA, "pipe:server"),
        };
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
        in.close();
        out.close();
    }
}
