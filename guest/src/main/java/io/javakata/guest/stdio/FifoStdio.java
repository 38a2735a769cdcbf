package io.javakata.guest.stdio;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.System.Logger.Level;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.locks.ReentrantLock;

import io.javakata.sys.Fifos;

/**
 * Stdio as FIFOs in the process's directory ({@code stdin}, {@code stdout}, {@code stderr}, each only when
 * requested).
 *
 * <p>The OCI runtime gets the FIFOs as plain file redirects (its stdio becomes the process's stdio without a
 * terminal); the agent holds the other ends. Pipes from {@link ProcessBuilder} would not do: the JDK drains and
 * closes a child's pipes when that child exits, and {@code runc create} exits at once while the container lives
 * on. Opening a FIFO blocks until both ends are open, so {@link #connect} opens the agent's ends on their own
 * threads while the JDK opens the runtime's ends in {@code ProcessBuilder.start()}.
 *
 * <p>FIFO opens and reads run on platform threads: {@code open(2)} of a FIFO blocks in the kernel and pins a
 * virtual thread's carrier, and a guest with one vCPU has one carrier, so the RPC thread waiting in
 * {@code ProcessBuilder.start()} and the opener would deadlock.
 *
 * <p>Thread-safe.
 */
public final class FifoStdio implements ContainerStdio {

    private static final System.Logger LOG = System.getLogger(FifoStdio.class.getName());
    private static final Path DEV_NULL = Path.of("/dev/null");

    private final String name;
    private final Path dir;
    private final boolean stdinWanted;
    private final OutputCopier stdout;
    private final OutputCopier stderr;
    private final Outputs outputs;
    private final CompletableFuture<OutputStream> stdinOpened = new CompletableFuture<>();
    private final ReentrantLock stdinLock = new ReentrantLock();
    /** Guarded by stdinLock. */
    private boolean stdinClosed;

    /**
     * @param name names the copier threads and log lines (container id, or id/exec id)
     * @param dir  where the FIFOs are made
     */
    public FifoStdio(String name, Path dir, boolean stdin, boolean stdout, boolean stderr) {
        this.name = name;
        this.dir = dir;
        this.stdinWanted = stdin;
        this.stdout = stdout ? new OutputCopier(name + "/stdout", dir.resolve("stdout")) : null;
        this.stderr = stderr ? new OutputCopier(name + "/stderr", dir.resolve("stderr")) : null;
        List<OutputCopier> copiers = new ArrayList<>(2);
        if (this.stdout != null) {
            copiers.add(this.stdout);
        }
        if (this.stderr != null) {
            copiers.add(this.stderr);
        }
        this.outputs = new Outputs(name, copiers);
    }

    /** Creates the FIFOs and starts opening the agent's ends, then runs {@code start} with the other ends. */
    @Override
    public void connect(RuntimeStart start) throws IOException {
        prepare();
        start.run(new RuntimeStdio(
                ProcessBuilder.Redirect.from((stdinWanted ? dir.resolve("stdin") : DEV_NULL).toFile()),
                stdout != null ? ProcessBuilder.Redirect.to(stdout.fifo.toFile()) : ProcessBuilder.Redirect.DISCARD,
                stderr != null ? ProcessBuilder.Redirect.to(stderr.fifo.toFile()) : ProcessBuilder.Redirect.DISCARD,
                null));
    }

    /** Creates the FIFOs and starts opening the agent's ends (tests open the other ends themselves). */
    void prepare() throws IOException {
        if (stdinWanted) {
            Path fifo = dir.resolve("stdin");
            Fifos.mkfifo(fifo, 0600);
            Thread.ofPlatform().daemon().name("stdin-open-" + name).start(() -> {
                try {
                    stdinOpened.complete(new FileOutputStream(fifo.toFile()));
                } catch (IOException e) {
                    stdinOpened.completeExceptionally(e);
                }
            });
        } else {
            stdinOpened.completeExceptionally(new IOException("stdin was not requested"));
        }
        for (OutputCopier copier : outputs.copiers()) {
            Fifos.mkfifo(copier.fifo, 0600);
            copier.start();
        }
    }

    @Override
    public boolean stdinWanted() {
        return stdinWanted;
    }

    @Override
    public void writeStdin(byte[] data) throws IOException {
        OutputStream out = stdinOpened.join();
        stdinLock.lock();
        try {
            if (stdinClosed) {
                throw new IOException("stdin is closed");
            }
            out.write(data);
            out.flush();
        } finally {
            stdinLock.unlock();
        }
    }

    /** Closes the agent's end of stdin, so the process reads end of file. */
    @Override
    public void closeStdin() throws IOException {
        stdinLock.lock();
        try {
            if (stdinClosed) {
                return;
            }
            stdinClosed = true;
        } finally {
            stdinLock.unlock();
        }
        if (stdinOpened.isDone() && !stdinOpened.isCompletedExceptionally()) {
            stdinOpened.join().close();
        } else {
            OutputCopier.unblockOpen(dir.resolve("stdin"), true);
            stdinOpened.thenAccept(FifoStdio::closeQuietly);
        }
    }

    /** No terminal, nothing to resize (runc's shim ignores it too). */
    @Override
    public void resize(int rows, int cols) {
    }

    @Override
    public StreamBuffer stdout() {
        return stdout == null ? null : stdout.buffer;
    }

    @Override
    public StreamBuffer stderr() {
        return stderr == null ? null : stderr.buffer;
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
        try {
            if (stdinWanted) {
                closeStdin();
            }
        } catch (IOException e) {
            LOG.log(Level.DEBUG, "process={0} msg=\"close stdin: {1}\"", name, e.getMessage());
        }
        for (OutputCopier copier : outputs.copiers()) {
            copier.close();
        }
    }

    private static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception e) {
            LOG.log(Level.DEBUG, "msg=\"close: {0}\"", e.getMessage());
        }
    }
}
