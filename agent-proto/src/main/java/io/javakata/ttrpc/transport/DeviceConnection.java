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
 * absent", not the end of the port. A guest server should treat -1 as the end of one session, and
 * wait for the host (e.g. by reopening with back-off) before reading again. {@link #close()} closes the
 * descriptor, but a read already blocked in the kernel returns only when data arrives or the host
 * disconnects. Reads and writes pin a virtual thread's carrier; run the reader on a platform thread.
 */
public final class DeviceConnection implements Connection {

    private final RandomAccessFile file;
    private final InputStream input;
    private final OutputStream output;
    private final String description;

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
}
