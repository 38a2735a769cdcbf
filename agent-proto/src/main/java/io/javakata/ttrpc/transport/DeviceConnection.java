package io.javakata.ttrpc.transport;

import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.nio.file.Path;

/**
 * The guest side of a virtio-serial port ({@code /dev/vport0p1}, found by name under
 * {@code /sys/class/virtio-ports/}).
 *
 * <p>The kernel lets a port be open only once (a second open fails with EBUSY), so both directions share
 * one {@link RandomAccessFile} opened "rw", with a FileInputStream and a FileOutputStream on its
 * descriptor.
 *
 * <p>While no host is connected to the port's chardev socket, a read returns -1 at once: that is "host
 * absent", not the end of the port. A guest server should treat -1 as the end of one {@link #session()},
 * and keep the port open while it waits for the next host (reading again after a back-off). Closing and
 * reopening the port instead loses requests: the kernel discards whatever arrives for a port that is
 * closed, and the host's VMM goes on delivering until the guest's close reaches it, so a host that
 * connects while the guest is between close and open sees its first request vanish (Linux
 * {@code drivers/char/virtio_console.c}: {@code in_intr} and {@code port_fops_release} call
 * {@code discard_port_data}). {@link #close()} closes the descriptor, but a read already blocked in the
 * kernel returns only when data arrives or the host disconnects. Reads and writes pin a virtual thread's
 * carrier; run the reader on a platform thread.
 */
public final class DeviceConnection implements Connection {

    private final RandomAccessFile file;
    private final InputStream input;
    private final OutputStream output;
    private final String description;
    /** A read failed (not just "host absent"): the port needs reopening. */
    private volatile boolean broken;

    private DeviceConnection(RandomAccessFile file, String description) throws IOException {
        this.file = file;
        this.input = new FileInputStream(file.getFD());
        this.output = new FileOutputStream(file.getFD());
        this.description = description;
    }

    /** Opens the port read-write. */
    public static DeviceConnection open(Path device) throws IOException {
        RandomAccessFile file;
        try {
            file = new RandomAccessFile(device.toFile(), "rw");
        } catch (IOException e) {
            throw new IOException("open virtio-serial port " + device + ": " + e.getMessage(), e);
        }
        try {
            return new DeviceConnection(file, "serial:" + device);
        } catch (IOException e) {
            file.close();
            throw e;
        }
    }

    /**
     * A view of the port for one host session: reads and writes go to the port until the view is closed;
     * then reads end and writes fail, while the port itself stays open for the next session.
     */
    public Connection session() {
        return new Session();
    }

    /** Whether a session's read failed with an error, after which the port should be closed and reopened. */
    public boolean broken() {
        return broken;
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
    public void close() throws IOException {
        file.close();
    }

    private final class Session implements Connection {

        private volatile boolean closed;

        private final InputStream sessionInput = new InputStream() {
            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (closed) {
                    return -1;
                }
                try {
                    return input.read(b, off, len);
                } catch (IOException e) {
                    broken = true;
                    throw e;
                }
            }
        };

        private final OutputStream sessionOutput = new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                if (closed) {
                    throw new IOException(description + ": session closed");
                }
                output.write(b, off, len);
            }
        };

        @Override
        public InputStream input() {
            return sessionInput;
        }

        @Override
        public OutputStream output() {
            return sessionOutput;
        }

        @Override
        public String describe() {
            return description;
        }

        /** Ends this session; the port stays open. */
        @Override
        public void close() {
            closed = true;
        }
    }
}
