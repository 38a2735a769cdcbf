package io.javakata.shim.stdio;

import io.javakata.shim.agent.Agent;
import io.javakata.sys.ErrnoException;
import io.javakata.sys.Fds;
import io.javakata.ttrpc.RuntimeStatusException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Moves one process's stdio between containerd's host FIFOs and the guest agent.
 *
 * <ul>
 *   <li>stdout, stderr: a thread per stream loops ReadStdout/ReadStderr (blocking in the guest
 *       until data or EOF) and writes the host FIFO, opened O_WRONLY (containerd holds the read
 *       end), until EOF; then closes the FIFO. The relay holds a read end of its own, as
 *       containerd's runc shim does (containerd {@code pkg/process/io.go}, {@code copyPipes}): while
 *       containerd is down (restarting) the output waits in the pipe for it instead of failing with EPIPE, and a full
 *       pipe holds the process back as it would under runc. A write to a full FIFO blocks in the
 *       kernel for as long as nobody reads, so these are platform threads: on virtual threads a
 *       few such writes would hold every carrier and stall the whole shim; {@link #close()} ends a
 *       blocked write by closing the channel. If the FIFO cannot be written all the same, the loop
 *       keeps draining the guest so the process never blocks on it.</li>
 *   <li>stdin: the FIFO is opened for reading (blocking until containerd opens its end) and copied to
 *       WriteStdin; at EOF, or when CloseIO asks, CloseStdin is sent once.</li>
 * </ul>
 * {@link #outputDone()} completes when both output FIFOs got every byte and were closed: the exit
 * is reported only after it, so no last line is lost (architecture.md, "The agent API").
 * Thread-safe.
 */
public final class StdioRelay implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(StdioRelay.class.getName());
    private static final int CHUNK = 32 * 1024;
    /** After CloseIO, how long the stdin copier may keep draining what containerd already wrote. */
    private static final Duration STDIN_DRAIN = Duration.ofSeconds(1);

    @FunctionalInterface
    private interface StreamReader {
        Agent.Chunk read(String containerId, String execId, int maxLen);
    }

    private final Agent agent;
    private final String containerId;
    private final String execId;
    private final StdioPaths paths;
    private final Output stdout = new Output("stdout");
    private final Output stderr = new Output("stderr");
    private final AtomicBoolean stdinClosed = new AtomicBoolean();
    private final AtomicBoolean closed = new AtomicBoolean();
    private volatile Thread stdinThread;
    private volatile FileChannel stdinChannel;

    private StdioRelay(Agent agent, String containerId, String execId, StdioPaths paths) {
        this.agent = agent;
        this.containerId = containerId;
        this.execId = execId;
        this.paths = paths;
    }

    /** Starts a copier for every stream whose path is non-empty. Never blocks. */
    public static StdioRelay start(Agent agent, String containerId, String execId, StdioPaths paths) {
        StdioRelay relay = new StdioRelay(agent, containerId, execId, paths);
        relay.startOutput(relay.stdout, paths.stdout(), agent::readStdout);
        relay.startOutput(relay.stderr, paths.stderr(), agent::readStderr);
        if (!paths.stdin().isEmpty()) {
            // A platform thread: a read blocked on a FIFO is woken by close() only for platform threads
            // (the JDK signals the blocked native thread); the stdin copier must be cancellable.
            relay.stdinThread = Thread.ofPlatform().daemon().name("stdin-" + containerId)
                    .start(relay::copyStdin);
        }
        return relay;
    }

    /** Completes once stdout and stderr reached EOF, every byte was written and the FIFOs were closed. */
    public CompletableFuture<Void> outputDone() {
        return CompletableFuture.allOf(stdout.done, stderr.done);
    }

    /**
     * CloseIO: lets the stdin copier drain what containerd already wrote (briefly), then stops it;
     * CloseStdin reaches the guest once either way.
     */
    public void closeStdin() {
        Thread thread = stdinThread;
        if (thread == null) {
            return;
        }
        CompletableFuture.delayedExecutor(STDIN_DRAIN.toMillis(), TimeUnit.MILLISECONDS)
                .execute(() -> stopStdinCopier(thread));
    }

    /**
     * Stops every copier (the container is going away); output FIFOs are closed as copiers end. An output
     * copier still running then has a reader that is not reading (containerd gone, or done with the
     * process): its channel is closed, which ends a write blocked on the full pipe.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        Thread thread = stdinThread;
        if (thread != null) {
            stopStdinCopier(thread);
        }
        unblockOpen(paths.stdout(), Fds.O_RDONLY);
        unblockOpen(paths.stderr(), Fds.O_RDONLY);
        stdout.stop();
        stderr.stop();
    }

    private void startOutput(Output output, String fifo, StreamReader reader) {
        if (fifo.isEmpty()) {
            output.done.complete(null);
            return;
        }
        Thread.ofPlatform().daemon().name(output.name + "-" + containerId).start(() -> {
            try {
                copyOutput(output, Path.of(fifo), reader);
            } finally {
                output.done.complete(null);
            }
        });
    }

    private void copyOutput(Output output, Path fifo, StreamReader reader) {
        FileChannel out = openFifo(fifo, StandardOpenOption.WRITE);
        int readEnd = out == null ? -1 : openReadEnd(fifo);
        // Published before closed is read: either close() sees the channel, or this loop sees closed.
        output.channel = out;
        try {
            while (!closed.get()) {
                Agent.Chunk chunk = reader.read(containerId, execId, CHUNK);
                if (chunk.eof()) {
                    return;
                }
                if (out != null && !writeFully(out, ByteBuffer.wrap(chunk.data()), fifo)) {
                    closeQuietly(out);
                    out = null;
                }
            }
        } catch (RuntimeStatusException e) {
            LOG.log(System.Logger.Level.DEBUG, "{0} of {1}: {2}", output.name, containerId, e.getMessage());
        } finally {
            closeQuietly(out);
            if (readEnd >= 0) {
                Fds.close(readEnd);
            }
        }
    }

    /** The relay's own read end (non-blocking, so the open returns at once; never read). -1 if it fails. */
    private int openReadEnd(Path fifo) {
        try {
            return Fds.open(fifo, Fds.O_RDONLY | Fds.O_NONBLOCK | Fds.O_CLOEXEC, 0);
        } catch (ErrnoException e) {
            LOG.log(System.Logger.Level.WARNING, "open a read end of " + fifo + " for container " + containerId + ": "
                    + e.getMessage() + "; its output is lost while containerd is away");
            return -1;
        }
    }

    private FileChannel openFifo(Path fifo, StandardOpenOption mode) {
        try {
            return FileChannel.open(fifo, mode);
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "open " + fifo + " for container " + containerId + ": "
                    + e.getMessage() + "; its output is discarded");
            return null;
        }
    }

    private boolean writeFully(FileChannel out, ByteBuffer data, Path fifo) {
        try {
            while (data.hasRemaining()) {
                out.write(data);
            }
            return true;
        } catch (IOException e) {
            if (!closed.get()) {
                LOG.log(System.Logger.Level.WARNING, "write " + fifo + ": " + e.getMessage()
                        + "; the rest of the output of " + containerId + " is discarded");
            }
            return false;
        }
    }

    private void copyStdin() {
        try (FileChannel in = FileChannel.open(Path.of(paths.stdin()), StandardOpenOption.READ)) {
            stdinChannel = in;
            ByteBuffer buffer = ByteBuffer.allocate(CHUNK);
            while (!stdinClosed.get() && in.read(buffer) >= 0) {
                buffer.flip();
                byte[] data = new byte[buffer.remaining()];
                buffer.get(data);
                buffer.clear();
                while (data.length > 0) {
                    int written = agent.writeStdin(containerId, execId, data);
                    data = Arrays.copyOfRange(data, Math.min(written, data.length), data.length);
                }
            }
        } catch (IOException | RuntimeStatusException e) {
            if (!stdinClosed.get()) {
                LOG.log(System.Logger.Level.DEBUG, "stdin of {0}: {1}", containerId, e.getMessage());
            }
        } finally {
            sendCloseStdin();
        }
    }

    /**
     * Never by interrupt: an interrupted thread that then writes to the agent connection (CloseStdin)
     * would close that SocketChannel, the whole pod's agent link (InterruptibleChannel semantics).
     * Closing the FIFO channel wakes a read blocked in it (the copier is a platform thread).
     */
    private void stopStdinCopier(Thread thread) {
        if (stdinClosed.compareAndSet(false, true)) {
            FileChannel channel = stdinChannel;
            if (channel != null) {
                closeQuietly(channel);
            }
            // The copier may still be blocked in open(2) waiting for a writer: be that writer.
            unblockOpen(paths.stdin(), Fds.O_WRONLY);
        }
    }

    private void sendCloseStdin() {
        try {
            agent.closeStdin(containerId, execId);
        } catch (RuntimeStatusException e) {
            LOG.log(System.Logger.Level.DEBUG, "CloseStdin of {0}: {1}", containerId, e.getMessage());
        }
    }

    /** Opens and closes the other end of a FIFO without blocking, waking a peer blocked in open(2). */
    private static void unblockOpen(String fifo, int mode) {
        if (fifo.isEmpty()) {
            return;
        }
        try {
            Fds.close(Fds.open(Path.of(fifo), mode | Fds.O_NONBLOCK | Fds.O_CLOEXEC, 0));
        } catch (ErrnoException e) {
            // ENXIO (no reader) or ENOENT: nobody is blocked.
        }
    }

    /** One output stream's copier: its channel, for close() to end a blocked write, and its end. */
    private static final class Output {
        final String name;
        final CompletableFuture<Void> done = new CompletableFuture<>();
        volatile FileChannel channel;

        Output(String name) {
            this.name = name;
        }

        /** Closing the channel wakes a platform thread blocked writing it (AsynchronousCloseException). */
        void stop() {
            FileChannel c = channel;
            if (c != null && !done.isDone()) {
                closeQuietly(c);
            }
        }
    }

    private static void closeQuietly(FileChannel channel) {
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException e) {
                LOG.log(System.Logger.Level.DEBUG, "close FIFO: " + e.getMessage());
            }
        }
    }
}
