package io.javakata.guest.stdio;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.locks.ReentrantLock;

import io.javakata.sys.ErrnoException;
import io.javakata.sys.FdPassing;
import io.javakata.sys.Fds;
import io.javakata.sys.Terminals;

/**
 * Stdio on a pty: the OCI runtime makes the pty for the process and sends its master over a console socket
 * ({@code --console-socket}, runc's and crun's {@code SCM_RIGHTS} hand-over). The master is read as stdout (a
 * terminal merges stderr into it, so there is no stderr) and written as stdin; it ends when every slave
 * descriptor is closed (read(2) fails with EIO). Nothing flows before the master arrives.
 *
 * <p>Thread-safe.
 */
public final class TerminalStdio implements ContainerStdio {

    /** How long the runtime may take to hand over the pty master after it returned (it sends before returning). */
    static final Duration CONSOLE_WAIT = Duration.ofSeconds(10);

    private static final System.Logger LOG = System.getLogger(TerminalStdio.class.getName());
    private static final Path DEV_NULL = Path.of("/dev/null");
    /** The terminal's default VEOF character, ^D. */
    private static final int EOT = 4;

    private final String name;
    private final Path consoleSocket;
    private final Duration consoleWait;
    private final boolean stdinWanted;
    private final boolean stdoutWanted;
    /** Always there: the master must be drained even when nobody reads it. */
    private final OutputCopier output;
    private final Outputs outputs;
    private final CompletableFuture<OutputStream> stdinOpened = new CompletableFuture<>();
    private final ReentrantLock lock = new ReentrantLock();
    /** Guarded by lock. */
    private boolean stdinClosed;
    /** The pty master once attached, -1 before and after; guarded by lock. */
    private int master = -1;
    /** A window size asked for before the pty existed (rows, cols), applied on attach; guarded by lock. */
    private int[] pendingSize;

    /**
     * @param name          names the copier thread and log lines (container id, or id/exec id)
     * @param consoleSocket where to listen for the runtime's pty master; a short path (sun_path holds 108 bytes)
     */
    public TerminalStdio(String name, Path consoleSocket, boolean stdin, boolean stdout) {
        this(name, consoleSocket, stdin, stdout, CONSOLE_WAIT);
    }

    TerminalStdio(String name, Path consoleSocket, boolean stdin, boolean stdout, Duration consoleWait) {
        this.name = name;
        this.consoleSocket = consoleSocket;
        this.consoleWait = consoleWait;
        this.stdinWanted = stdin;
        this.stdoutWanted = stdout;
        this.output = new OutputCopier(name + "/tty", null);
        this.outputs = new Outputs(name, List.of(output));
    }

    /**
     * Listens on the console socket, runs {@code start} with it and the runtime's stdio on /dev/null, then takes
     * the pty master the runtime sent: fails when none came within {@link #CONSOLE_WAIT}.
     */
    @Override
    public void connect(RuntimeStart start) throws IOException {
        Files.createDirectories(consoleSocket.getParent());
        try (FdPassing.Listener console = FdPassing.listen(consoleSocket)) {
            start.run(new RuntimeStdio(ProcessBuilder.Redirect.from(DEV_NULL.toFile()),
                    ProcessBuilder.Redirect.DISCARD, ProcessBuilder.Redirect.DISCARD, console.path()));
            attach(console.acceptFd(consoleWait));
        }
    }

    /**
     * Takes ownership of the pty master: starts copying it to the stdout buffer and makes it the stdin target.
     * The descriptor is closed once the output reached its end.
     */
    void attach(int masterFd) {
        lock.lock();
        try {
            master = masterFd;
            if (pendingSize != null) {
                try {
                    Terminals.setWindowSize(masterFd, pendingSize[0], pendingSize[1]);
                } catch (ErrnoException e) {
                    LOG.log(Level.WARNING, "msg=\"queued resize failed\" process={0} rows={1} cols={2}"
                            + " error=\"{3}\"", name, pendingSize[0], pendingSize[1], e.getMessage());
                }
                pendingSize = null;
            }
        } finally {
            lock.unlock();
        }
        stdinOpened.complete(Terminals.output(masterFd));
        if (!stdoutWanted) {
            output.buffer.discard();
        }
        output.startFrom(Terminals.input(masterFd));
        // Not on done: after a cut-off the copier may still be in read(2) on the master, and a
        // closed descriptor number can be reused by the next open.
        output.ended.whenComplete((v, e) -> closeMaster());
    }

    /** Sets the window size; one asked for before the runtime handed over the pty is applied when it arrives. */
    @Override
    public void resize(int rows, int cols) throws ErrnoException {
        lock.lock();
        try {
            if (master >= 0) {
                Terminals.setWindowSize(master, rows, cols);
            } else if (!stdinClosed) {
                pendingSize = new int[] {rows, cols};
            }
        } finally {
            lock.unlock();
        }
    }

    private void closeMaster() {
        lock.lock();
        try {
            if (master >= 0) {
                Fds.close(master);
                master = -1;
                stdinClosed = true;
            }
        } finally {
            lock.unlock();
        }
    }

    @Override
    public boolean stdinWanted() {
        return stdinWanted;
    }

    @Override
    public void writeStdin(byte[] data) throws IOException {
        OutputStream out = stdinOpened.join();
        lock.lock();
        try {
            if (stdinClosed || master < 0) {
                throw new IOException("stdin is closed");
            }
            out.write(data);
            out.flush();
        } finally {
            lock.unlock();
        }
    }

    /**
     * A terminal stays open (closing the master would hang the process up): it gets the EOF character, ^D,
     * which ends a read at the start of a line as closing would.
     */
    @Override
    public void closeStdin() throws IOException {
        lock.lock();
        try {
            if (stdinClosed) {
                return;
            }
            stdinClosed = true;
            if (master >= 0) {
                Terminals.output(master).write(EOT);
            }
        } finally {
            lock.unlock();
        }
    }

    @Override
    public StreamBuffer stdout() {
        return stdoutWanted ? output.buffer : null;
    }

    /** A terminal has no stderr of its own. */
    @Override
    public StreamBuffer stderr() {
        return null;
    }

    @Override
    public CompletableFuture<Void> outputsDone() {
        return outputs.done();
    }

    @Override
    public CompletableFuture<Void> outputsDrained(Duration bound) {
        return outputs.drained(bound);
    }

    @Override
    public void close() {
        stdinOpened.completeExceptionally(new IOException("stdio closed"));
        output.buffer.discard();
        if (!output.started) {
            closeMaster();
            output.done.complete(null);
            output.ended.complete(null);
        }
    }
}
