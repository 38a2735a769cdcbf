package io.javakata.hypervisor;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.FileChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * The host side of a guest's serial console: reads the VMM's console socket and keeps what the guest
 * wrote in two files, {@code <log>} (newest) and {@code <log>.1} (the part before it), each at most
 * half of the bound, so a guest that floods its console occupies at most {@code maxBytes} of the
 * host's /run however long it runs. When {@code <log>} is full it replaces {@code <log>.1} and a new
 * {@code <log>} starts.
 *
 * <p>One virtual thread per console copies through one fixed buffer; it ends when the VMM closes
 * the socket (it exited) or on {@link #close()}. If a write fails (/run full), the thread keeps
 * draining the socket and drops the bytes, so the guest's console never stalls on the host.
 *
 * <p>Thread-safety: {@link #close()} may be called from any thread; {@link #tail} is static.
 */
public final class ConsoleRing implements AutoCloseable {

    /** Suffix of the ring's older file. */
    public static final String PREVIOUS_SUFFIX = ".1";

    private static final System.Logger LOG = System.getLogger(ConsoleRing.class.getName());
    private static final int BUFFER_BYTES = 8192;
    private static final long MAX_BACKOFF_MILLIS = 100;
    private static final Duration CLOSE_WAIT = Duration.ofSeconds(2);

    private final SocketChannel channel;
    private final Process vmm;
    /** Changes only by {@link #moveTo}, which {@link #rotate} excludes. */
    private volatile Path log;
    private final long halfBytes;
    private final Thread pump;
    private FileChannel current;
    private long currentBytes;
    private boolean writeFailed;

    private ConsoleRing(SocketChannel channel, Process vmm, Path log, long maxBytes, String name) throws IOException {
        this.channel = channel;
        this.vmm = vmm;
        this.log = log;
        this.halfBytes = maxBytes / 2;
        Files.deleteIfExists(previous(log));
        this.current = open(log);
        this.pump = Thread.ofVirtual().name("console-" + name).unstarted(this::pump);
    }

    /**
     * Connects to {@code socket} (retrying until the VMM has created it, for up to {@code timeout},
     * giving up at once if {@code vmm} exits) and starts copying into {@code log}.
     *
     * @param maxBytes the bound of both files together, at least 2
     * @throws IOException naming the socket and the last error, or the VMM's exit code
     */
    public static ConsoleRing connect(Path socket, Path log, long maxBytes, Process vmm, Duration timeout)
            throws IOException {
        Objects.requireNonNull(log, "log");
        if (maxBytes < 2) {
            throw new IllegalArgumentException("maxBytes=" + maxBytes + ": must be at least 2");
        }
        SocketChannel channel = dial(socket, vmm, timeout);
        try {
            ConsoleRing ring = new ConsoleRing(channel, vmm, log, maxBytes, socket.getParent().getFileName().toString());
            ring.pump.start();
            return ring;
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    private static SocketChannel dial(Path socket, Process vmm, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        long backoff = 5;
        IOException last = null;
        while (true) {
            if (!vmm.isAlive()) {
                throw new IOException("the VMM exited with code " + vmm.exitValue() + " before its console "
                        + socket + " accepted a connection");
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new IOException("console " + socket + " accepted no connection within " + timeout
                        + " (last error: " + (last == null ? "none" : last.getMessage()) + ")");
            }
            SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
            try {
                channel.connect(UnixDomainSocketAddress.of(socket));
                return channel;
            } catch (IOException e) {
                channel.close();
                last = e;
            }
            ChildProcesses.awaitExit(vmm.toHandle(), Duration.ofMillis(Math.min(backoff, left / 1_000_000 + 1)));
            backoff = Math.min(backoff * 2, MAX_BACKOFF_MILLIS);
        }
    }

    private void pump() {
        ByteBuffer buffer = ByteBuffer.allocate(BUFFER_BYTES);
        try {
            while (channel.read(buffer.clear()) >= 0) {
                buffer.flip();
                store(buffer);
            }
        } catch (AsynchronousCloseException e) {
            // close(): the VM is being stopped
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "console " + log + ": read failed: " + e.getMessage());
        } finally {
            closeQuietly();
        }
    }

    /** Appends {@code bytes}, starting a new file whenever the current one holds half the bound. */
    private void store(ByteBuffer bytes) {
        while (bytes.hasRemaining() && !writeFailed) {
            try {
                if (currentBytes >= halfBytes) {
                    rotate();
                }
                ByteBuffer part = bytes.slice(bytes.position(),
                        (int) Math.min(bytes.remaining(), halfBytes - currentBytes));
                while (part.hasRemaining()) {
                    currentBytes += current.write(part);
                }
                bytes.position(bytes.position() + part.capacity());
            } catch (IOException e) {
                writeFailed = true;
                LOG.log(System.Logger.Level.WARNING, "console " + log + ": write failed, dropping the rest of the "
                        + "guest's console: " + e.getMessage());
            }
        }
    }

    /**
     * The console file was moved to {@code newLog} with its directory (a rename on one filesystem keeps the open
     * file): the ring goes on there, and rotates there.
     */
    public synchronized void moveTo(Path newLog) {
        log = newLog;
    }

    private synchronized void rotate() throws IOException {
        current.close();
        Files.move(log, previous(log), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        current = open(log);
        currentBytes = 0;
    }

    private static FileChannel open(Path file) throws IOException {
        return FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING);
    }

    private void closeQuietly() {
        try {
            current.close();
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "console " + log + ": close: " + e.getMessage());
        }
    }

    /**
     * Stops the copy: at once while the VMM runs; once it has exited, after the copy has reached the
     * end of the socket (its last words), waiting for that at most a bounded time. Idempotent.
     */
    @Override
    public void close() {
        try {
            if (vmm.isAlive() || !pump.join(CLOSE_WAIT)) {
                channel.close();
                pump.join(CLOSE_WAIT);
            }
            channel.close();
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "console " + log + ": close: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Whether the copy has stopped (the VMM closed the console, or {@link #close()}). */
    public boolean isDone() {
        return !pump.isAlive();
    }

    /** The ring's older file for {@code log}. */
    public static Path previous(Path log) {
        return log.resolveSibling(log.getFileName() + PREVIOUS_SUFFIX);
    }

    /** Both files of the ring, older first. */
    public static List<Path> files(Path log) {
        return List.of(previous(log), log);
    }

    /**
     * The last {@code maxBytes} the guest wrote (across both files), decoded as UTF-8 and stripped;
     * "" if there is nothing or the files cannot be read.
     */
    public static String tail(Path log, int maxBytes) {
        byte[] newest = lastBytes(log, maxBytes);
        byte[] older = newest.length >= maxBytes ? new byte[0] : lastBytes(previous(log), maxBytes - newest.length);
        byte[] both = new byte[older.length + newest.length];
        System.arraycopy(older, 0, both, 0, older.length);
        System.arraycopy(newest, 0, both, older.length, newest.length);
        return new String(both, StandardCharsets.UTF_8).strip();
    }

    private static byte[] lastBytes(Path file, int maxBytes) {
        try (RandomAccessFile in = new RandomAccessFile(file.toFile(), "r")) {
            long start = Math.max(0, in.length() - maxBytes);
            byte[] bytes = new byte[(int) (in.length() - start)];
            in.seek(start);
            in.readFully(bytes);
            return bytes;
        } catch (NoSuchFileException | java.io.FileNotFoundException e) {
            return new byte[0];
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "console " + file + ": " + e.getMessage());
            return new byte[0];
        }
    }
}
