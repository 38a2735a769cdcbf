package io.javakata.guest.stdio;

import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;

import io.javakata.sys.ErrnoException;
import io.javakata.sys.Fds;
import io.javakata.sys.Fifos;
import io.javakata.sys.Terminals;

/**
 * The stdio of one container process, as FIFOs in its bundle directory.
 *
 * <p>runc gets the FIFOs as plain file redirects (its stdio becomes the container init's stdio in
 * non-terminal mode); the agent holds the other ends. Pipes from {@link ProcessBuilder} would not
 * do: the JDK drains and closes a child's pipes when that child exits, and {@code runc create}
 * exits at once while the container lives on. Opening a FIFO blocks until both ends are open, so
 * {@link #prepare()} opens the agent's ends on virtual threads while the JDK opens runc's ends in
 * {@code ProcessBuilder.start()}.
 *
 * <p>FIFO opens and reads run on platform threads: {@code open(2)} of a FIFO blocks in the kernel
 * and pins a virtual thread's carrier, and a guest with one vCPU has one carrier, so the RPC thread
 * waiting in {@code ProcessBuilder.start()} and the opener would deadlock.
 *
 * <p>A terminal process ({@link #terminal}) has no FIFOs: runc hands the pty master over its console
 * socket ({@link #attachTerminal}); the master is read as stdout (a terminal merges stderr into it)
 * and written as stdin, and it ends when every slave descriptor is closed (read(2) fails with EIO).
 *
 * <p>Thread-safe.
 */
public final class ContainerStdio implements AutoCloseable {

    /** Buffered output per stream; a full buffer stops the copier (back-pressure to the container). */
    public static final int BUFFER_BYTES = 1 << 20;

    private static final System.Logger LOG = System.getLogger(ContainerStdio.class.getName());
    private static final Path DEV_NULL = Path.of("/dev/null");
    /** The terminal's default VEOF character, ^D. */
    private static final int EOT = 4;

    private final String containerId;
    private final Path dir;
    private final boolean stdinWanted;
    private final OutputCopier stdout;
    private final OutputCopier stderr;
    private final CompletableFuture<OutputStream> stdinOpened = new CompletableFuture<>();
    private final ReentrantLock stdinLock = new ReentrantLock();
    private final AtomicBoolean drainScheduled = new AtomicBoolean();
    private final boolean terminal;
    private final boolean stdoutWanted;
    private boolean stdinClosed;
    /** The pty master of a terminal process once attached, -1 before and after; guarded by stdinLock. */
    private int master = -1;
    /** A window size asked for before the pty existed (rows, cols), applied on attach; guarded by stdinLock. */
    private int[] pendingSize;

    /**
     * FIFO stdio.
     *
     * @param containerId names the copier threads and log lines (container id, or id/exec id)
     */
    public ContainerStdio(String containerId, Path dir, boolean stdin, boolean stdout, boolean stderr) {
        this(containerId, dir, stdin, stdout, stderr, false);
    }

    private ContainerStdio(String containerId, Path dir, boolean stdin, boolean stdout, boolean stderr,
                           boolean terminal) {
        this.containerId = containerId;
        this.dir = dir;
        this.stdinWanted = stdin;
        this.terminal = terminal;
        this.stdoutWanted = stdout;
        // A terminal always gets its copier: the master must be drained even when nobody reads it.
        this.stdout = terminal ? new OutputCopier(containerId + "/tty", null)
                : stdout ? new OutputCopier(containerId + "/stdout", dir.resolve("stdout")) : null;
        this.stderr = stderr ? new OutputCopier(containerId + "/stderr", dir.resolve("stderr")) : null;
    }

    /**
     * Terminal stdio: the pty master is stdout (when wanted) and stdin; there is no stderr. Nothing
     * flows until {@link #attachTerminal}.
     */
    public static ContainerStdio terminal(String name, Path dir, boolean stdin, boolean stdout) {
        return new ContainerStdio(name, dir, stdin, stdout, false, true);
    }

    public boolean isTerminal() {
        return terminal;
    }

    /**
     * Takes ownership of the pty master runc sent: starts copying it to the stdout buffer and makes
     * it the stdin target. The descriptor is closed once the output reached its end.
     */
    public void attachTerminal(int masterFd) {
        if (!terminal) {
            throw new IllegalStateException(containerId + ": attachTerminal on FIFO stdio");
        }
        stdinLock.lock();
        try {
            master = masterFd;
            if (pendingSize != null) {
                try {
                    Terminals.setWindowSize(masterFd, pendingSize[0], pendingSize[1]);
                } catch (ErrnoException e) {
                    LOG.log(Level.WARNING, "msg=\"queued resize failed\" process={0} rows={1} cols={2}"
                            + " error=\"{3}\"", containerId, pendingSize[0], pendingSize[1], e.getMessage());
                }
                pendingSize = null;
            }
        } finally {
            stdinLock.unlock();
        }
        stdinOpened.complete(Terminals.output(masterFd));
        if (!stdoutWanted) {
            stdout.buffer.discard();
        }
        stdout.startFrom(Terminals.input(masterFd));
        // Not on done: after a cut-off the copier may still be in read(2) on the master, and a
        // closed descriptor number can be reused by the next open.
        stdout.ended.whenComplete((v, e) -> closeMaster());
    }

    /**
     * ResizePty: sets the terminal's window size; a no-op for FIFO stdio (as runc's shim does). A size
     * asked for before runc handed over the pty is kept and applied when it arrives.
     */
    public void resize(int rows, int cols) throws ErrnoException {
        stdinLock.lock();
        try {
            if (master >= 0) {
                Terminals.setWindowSize(master, rows, cols);
            } else if (terminal && !stdinClosed) {
                pendingSize = new int[] {rows, cols};
            }
        } finally {
            stdinLock.unlock();
        }
    }

    private void closeMaster() {
        stdinLock.lock();
        try {
            if (master >= 0) {
                Fds.close(master);
                master = -1;
                stdinClosed = true;
            }
        } finally {
            stdinLock.unlock();
        }
    }

    /** Creates the FIFOs and starts opening the agent's ends; call before starting runc. */
    public void prepare() throws IOException {
        if (terminal) {
            return;
        }
        if (stdinWanted) {
            Path fifo = dir.resolve("stdin");
            Fifos.mkfifo(fifo, 0600);
            Thread.ofPlatform().daemon().name("stdin-open-" + containerId).start(() -> {
                try {
                    stdinOpened.complete(new FileOutputStream(fifo.toFile()));
                } catch (IOException e) {
                    stdinOpened.completeExceptionally(e);
                }
            });
        } else {
            stdinOpened.completeExceptionally(new IOException("stdin was not requested"));
        }
        for (OutputCopier copier : outputs()) {
            Fifos.mkfifo(copier.fifo, 0600);
            copier.start();
        }
    }

    public ProcessBuilder.Redirect stdinRedirect() {
        return ProcessBuilder.Redirect.from(stdinWanted && !terminal ? dir.resolve("stdin").toFile()
                : DEV_NULL.toFile());
    }

    public ProcessBuilder.Redirect stdoutRedirect() {
        return stdout != null && !terminal ? ProcessBuilder.Redirect.to(stdout.fifo.toFile())
                : ProcessBuilder.Redirect.DISCARD;
    }

    public ProcessBuilder.Redirect stderrRedirect() {
        return stderr != null ? ProcessBuilder.Redirect.to(stderr.fifo.toFile()) : ProcessBuilder.Redirect.DISCARD;
    }

    /** The stdout buffer, or null when stdout was not requested. */
    public StreamBuffer stdout() {
        return stdout == null || !stdoutWanted ? null : stdout.buffer;
    }

    public StreamBuffer stderr() {
        return stderr == null ? null : stderr.buffer;
    }

    /** Completes when every requested output stream reached end of stream in the guest (or was cut off). */
    public CompletableFuture<Void> outputsDone() {
        return CompletableFuture.allOf(outputs().stream().map(c -> c.done).toArray(CompletableFuture[]::new));
    }

    /**
     * Call once the process is gone: completes when every output reached end of stream, or at the
     * latest {@code bound} later, when each is cut off ({@code OutputCopier.cutOff}) with every byte
     * that arrived before. A descendant that outlives the process and keeps its stdout open (a
     * daemon's child, {@code sleep 100 &}) thus delays the exit by {@code bound} at most, as in
     * containerd's runc shim, whose wait for the I/O of an exited process is bounded. The cut-off is
     * scheduled by the first call only; later calls wait for the same outcome.
     */
    public CompletableFuture<Void> outputsDrained(Duration bound) {
        CompletableFuture<Void> all = outputsDone();
        if (drainScheduled.compareAndSet(false, true) && !all.isDone()) {
            CompletableFuture.delayedExecutor(bound.toMillis(), TimeUnit.MILLISECONDS).execute(() -> {
                if (!all.isDone()) {
                    LOG.log(Level.INFO, "process={0} msg=\"output still open {1} ms after the exit: cut off\"",
                            containerId, bound.toMillis());
                    outputs().forEach(OutputCopier::cutOff);
                }
            });
        }
        return all;
    }

    public boolean stdinWanted() {
        return stdinWanted;
    }

    /** Blocking write of all bytes to the container's stdin. */
    public void writeStdin(byte[] data) throws IOException {
        OutputStream out = stdinOpened.join();
        stdinLock.lock();
        try {
            if (stdinClosed || (terminal && master < 0)) {
                throw new IOException("stdin is closed");
            }
            out.write(data);
            out.flush();
        } finally {
            stdinLock.unlock();
        }
    }

    /**
     * Closes the agent's end of stdin, so the container reads end of file. Idempotent. A terminal
     * stays open (closing the master would hang the process up): it gets the EOF character, ^D,
     * which ends a read at the start of a line as closing would.
     */
    public void closeStdin() throws IOException {
        stdinLock.lock();
        try {
            if (stdinClosed) {
                return;
            }
            stdinClosed = true;
            if (terminal) {
                if (master >= 0) {
                    Terminals.output(master).write(EOT);
                }
                return;
            }
        } finally {
            stdinLock.unlock();
        }
        if (stdinOpened.isDone() && !stdinOpened.isCompletedExceptionally()) {
            stdinOpened.join().close();
        } else {
            unblockOpen(dir.resolve("stdin"), true);
            stdinOpened.thenAccept(ContainerStdio::closeQuietly);
        }
    }

    /** Closes the agent's ends and drops buffered output; readers see eof. */
    @Override
    public void close() {
        if (terminal) {
            stdinOpened.completeExceptionally(new IOException("stdio closed"));
            stdout.buffer.discard();
            if (!stdout.started) {
                closeMaster();
                stdout.done.complete(null);
                stdout.ended.complete(null);
            }
            return;
        }
        try {
            if (stdinWanted) {
                closeStdin();
            }
        } catch (IOException e) {
            LOG.log(Level.DEBUG, "container={0} msg=\"close stdin: {1}\"", containerId, e.getMessage());
        }
        for (OutputCopier copier : outputs()) {
            copier.close();
        }
    }

    private List<OutputCopier> outputs() {
        List<OutputCopier> list = new ArrayList<>(2);
        if (stdout != null) {
            list.add(stdout);
        }
        if (stderr != null) {
            list.add(stderr);
        }
        return list;
    }

    /**
     * A thread blocked opening one end of a FIFO only returns once the other end is opened; when
     * runc never got to open its end (it failed to start), open that end ourselves, briefly.
     */
    private static void unblockOpen(Path fifo, boolean openerIsWriter) {
        if (!Files.exists(fifo)) {
            return;
        }
        Thread.ofPlatform().daemon().name("fifo-unblock").start(() -> {
            try (var c = openerIsWriter ? new FileInputStream(fifo.toFile()) : new FileOutputStream(fifo.toFile())) {
                LOG.log(Level.TRACE, "unblocked {0}", fifo);
            } catch (IOException e) {
                LOG.log(Level.DEBUG, "msg=\"unblock fifo {0}: {1}\"", fifo, e.getMessage());
            }
        });
    }

    private static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception e) {
            LOG.log(Level.DEBUG, "msg=\"close: {0}\"", e.getMessage());
        }
    }

    /**
     * Copies one output (a FIFO, or a pty master) into its buffer on a platform thread.
     *
     * <p>{@link #done} completes when the readers have the whole output: at end of stream (every
     * writer closed its end), or at {@link #cutOff()}. {@link #ended} completes when the thread
     * returns, which after a cut-off is only when the last writer is gone: until then it keeps reading
     * and drops what it reads, so a process that still writes never blocks on a full pipe.
     */
    private static final class OutputCopier {
        final String name;
        final Path fifo;
        final StreamBuffer buffer = new StreamBuffer(BUFFER_BYTES);
        final CompletableFuture<Void> done = new CompletableFuture<>();
        final CompletableFuture<Void> ended = new CompletableFuture<>();
        private final CompletableFuture<InputStream> opened = new CompletableFuture<>();
        private final Object lock = new Object();
        /** The thread is in open(2) or read(2): blocked there means the pipe is empty. Guarded by lock. */
        private boolean waiting;
        /** A cut-off was asked for; guarded by lock. */
        private boolean cutOff;

        OutputCopier(String name, Path fifo) {
            this.name = name;
            this.fifo = fifo;
        }

        volatile boolean started;

        void start() {
            started = true;
            Thread.ofPlatform().daemon().name("copy-" + name).start(() -> {
                InputStream in;
                try {
                    synchronized (lock) {
                        waiting = true;
                    }
                    in = new FileInputStream(fifo.toFile());
                } catch (IOException e) {
                    LOG.log(Level.WARNING, "stream={0} msg=\"open failed: {1}\"", name, e.getMessage());
                    opened.complete(null);
                    finish();
                    ended.complete(null);
                    return;
                }
                run(in);
            });
        }

        /** Copies an already open stream (a pty master) on a platform thread: its reads pin the carrier. */
        void startFrom(InputStream source) {
            started = true;
            Thread.ofPlatform().daemon().name("copy-" + name).start(() -> run(source));
        }

        private void run(InputStream source) {
            try (InputStream in = source) {
                opened.complete(in);
                byte[] chunk = new byte[32 * 1024];
                while (true) {
                    boolean cutOffWhileBusy;
                    synchronized (lock) {
                        cutOffWhileBusy = cutOff && !done.isDone();
                        waiting = !cutOffWhileBusy;
                    }
                    if (cutOffWhileBusy) {
                        // Cut off while busy (the buffer was full): what is in the pipe now arrived
                        // before the cut-off and is delivered; anything later is not.
                        copyPending(in, chunk);
                        finish();
                        synchronized (lock) {
                            waiting = true;
                        }
                    }
                    int n = in.read(chunk);
                    synchronized (lock) {
                        waiting = false;
                    }
                    if (n < 0) {
                        break;
                    }
                    if (!done.isDone() && !buffer.write(chunk, 0, n)) {
                        break;
                    }
                }
            } catch (IOException e) {
                LOG.log(Level.WARNING, "stream={0} msg=\"copy failed: {1}\"", name, e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                opened.complete(null);
                finish();
                ended.complete(null);
            }
        }

        /** Copies the bytes the pipe holds now ({@code FIONREAD}, which FileInputStream.available asks for a FIFO). */
        private void copyPending(InputStream in, byte[] chunk) {
            try {
                int pending = in.available();
                while (pending > 0) {
                    int n = in.read(chunk, 0, Math.min(pending, chunk.length));
                    if (n < 0 || !buffer.write(chunk, 0, n)) {
                        return;
                    }
                    pending -= n;
                }
            } catch (IOException e) {
                LOG.log(Level.DEBUG, "stream={0} msg=\"read what was left: {1}\"", name, e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        /**
         * Ends the output for the readers with what arrived so far, without waiting for the writers to
         * close: if the thread waits in read(2), the pipe is empty and the output is complete now;
         * if it is busy (its buffer was full), it copies what the pipe holds, then ends it. A copier
         * never started ends at once.
         */
        void cutOff() {
            synchronized (lock) {
                if (cutOff) {
                    return;
                }
                cutOff = true;
                if (waiting || !started) {
                    finish();
                }
            }
        }

        private void finish() {
            buffer.finish();
            done.complete(null);
        }

        void close() {
            buffer.discard();
            if (!opened.isDone() && fifo != null) {
                unblockOpen(fifo, false);
            }
        }
    }
}
