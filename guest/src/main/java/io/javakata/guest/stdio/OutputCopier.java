package io.javakata.guest.stdio;

import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.CompletableFuture;

/**
 * Copies one output (a FIFO, or a pty master) into its buffer on a platform thread.
 *
 * <p>{@link #done} completes when the readers have the whole output: at end of stream (every
 * writer closed its end), or at {@link #cutOff()}. {@link #ended} completes when the thread
 * returns, which after a cut-off is only when the last writer is gone: until then it keeps reading
 * and drops what it reads, so a process that still writes never blocks on a full pipe.
 */
final class OutputCopier {

    private static final System.Logger LOG = System.getLogger(OutputCopier.class.getName());

    final String name;
    final Path fifo;
    final StreamBuffer buffer = new StreamBuffer(ContainerStdio.BUFFER_BYTES);
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

    /**
     * A thread blocked opening one end of a FIFO only returns once the other end is opened; when
     * runc never got to open its end (it failed to start), open that end ourselves, briefly.
     */
    static void unblockOpen(Path fifo, boolean openerIsWriter) {
        if (!Files.exists(fifo)) {
            return;
        }
        Thread.ofPlatform().daemon().name("fifo-unblock").start(() -> {
            // Opened without O_CREAT: if the FIFO is gone (its directory being removed), this must not leave a file.
            try (var c = openerIsWriter ? new FileInputStream(fifo.toFile())
                    : Files.newOutputStream(fifo, StandardOpenOption.WRITE)) {
                LOG.log(Level.TRACE, "unblocked {0}", fifo);
            } catch (IOException e) {
                LOG.log(Level.DEBUG, "msg=\"unblock fifo {0}: {1}\"", fifo, e.getMessage());
            }
        });
    }
}
