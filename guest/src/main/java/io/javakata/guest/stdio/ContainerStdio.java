package io.javakata.guest.stdio;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

import io.javakata.sys.ErrnoException;

/**
 * The stdio of one container process (its init or an exec), as the agent holds it: stdin written by the host,
 * stdout and stderr buffered for the host to read. Two kinds: {@link FifoStdio} (FIFOs in the process's
 * directory, one per stream) and {@link TerminalStdio} (a pty whose master the OCI runtime hands over). The
 * launcher picks one from the request, and nothing else asks which kind it holds.
 *
 * <p>Thread-safe. {@link #writeStdin} blocks until the process's end of stdin is open and the bytes are written;
 * every other call returns at once.
 */
public sealed interface ContainerStdio extends AutoCloseable permits FifoStdio, TerminalStdio {

    /** Buffered output per stream; a full buffer stops the copier (back-pressure to the container). */
    int BUFFER_BYTES = 1 << 20;

    /**
     * The OCI runtime starting the process ({@code create} of an init, {@code exec --detach} of an exec), given
     * what its own stdio and console socket must be.
     */
    @FunctionalInterface
    interface RuntimeStart {
        void run(RuntimeStdio stdio) throws IOException;
    }

    /**
     * Connects this stdio to the process {@code start} starts: prepares the agent's side, runs {@code start} with
     * the runtime's stdio, and takes what the runtime hands back (a terminal's pty master). Returns once the
     * process's stdio is in place; throws what {@code start} throws, or why the stdio could not be connected.
     */
    void connect(RuntimeStart start) throws IOException;

    boolean stdinWanted();

    /** Blocking write of all bytes to the process's stdin; fails once stdin was closed. */
    void writeStdin(byte[] data) throws IOException;

    /** Ends the process's stdin (end of file; ^D for a terminal). Idempotent. */
    void closeStdin() throws IOException;

    /** ResizePty: sets the terminal's window size; a no-op when there is no terminal (as runc's shim does). */
    void resize(int rows, int cols) throws ErrnoException;

    /** The stdout buffer, or null when stdout was not requested. */
    StreamBuffer stdout();

    /** The stderr buffer, or null when stderr was not requested or the process has a terminal. */
    StreamBuffer stderr();

    /** Completes when every requested output stream reached end of stream in the guest (or was cut off). */
    CompletableFuture<Void> outputsDone();

    /**
     * Call once the process is gone: completes when every output reached end of stream, or at the latest
     * {@code bound} later, when each is cut off with every byte that arrived before. A descendant that outlives
     * the process and keeps its stdout open (a daemon's child, {@code sleep 100 &}) thus delays the exit by
     * {@code bound} at most, as in containerd's runc shim, whose wait for the I/O of an exited process is
     * bounded. The cut-off is scheduled by the first call only; later calls wait for the same outcome.
     */
    CompletableFuture<Void> outputsDrained(Duration bound);

    /** Closes the agent's ends and drops buffered output; readers see end of stream. */
    @Override
    void close();
}
