package io.javakata.shim.cli;

import io.javakata.sys.ErrnoException;
import io.javakata.sys.Fds;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The bundle's {@code log} FIFO, which containerd creates and reads before it runs the shim and copies into its own log
 * (containerd runtime/v2/bundle.go, runtime/v2/shim/shim_unix.go). Opening a FIFO write-only blocks while nobody reads
 * it, so serve first probes with O_NONBLOCK, which fails at once (ENXIO) without a reader, as when the shim is run by
 * hand; then it opens again in blocking mode, so that a full pipe slows the writer instead of losing lines.
 */
final class LogFifo {

    static final String NAME = "log";
    private static final int ENXIO = 6;
    private static final int ENOENT = 2;

    private LogFifo() {
    }

    /**
     * A stream to the FIFO for start and delete, which must keep their own stdout and stderr clean. Opened O_RDWR,
     * which on Linux never blocks on a FIFO (fifo(7)), so this needs no native call and keeps FFM off start's path;
     * the few lines written wait in the pipe if nobody reads them. Empty if the bundle has no FIFO.
     */
    static Optional<PrintStream> open(Path bundle) throws IOException {
        Path log = bundle.resolve(NAME);
        if (!Files.exists(log) || Files.isRegularFile(log) || Files.isDirectory(log)) {
            return Optional.empty();
        }
        var file = new RandomAccessFile(log.toFile(), "rw");
        return Optional.of(new PrintStream(new FileOutputStream(file.getFD()), true, StandardCharsets.UTF_8));
    }

    /**
     * Makes fd 2 the FIFO (Go's shim does the same in openLog), so the JVM's own messages land there too. Write-only,
     * unlike {@link #open}: a long-lived shim must not block on a full pipe once containerd stops reading.
     */
    static boolean redirectStderr(Path bundle) throws IOException {
        Optional<Integer> probe = probe(bundle);
        if (probe.isEmpty()) {
            return false;
        }
        try {
            int fd = Fds.open(bundle.resolve(NAME), Fds.O_WRONLY | Fds.O_CLOEXEC, 0);
            try {
                Fds.dup2(fd, 2);
            } finally {
                Fds.close(fd);
            }
            return true;
        } finally {
            Fds.close(probe.get());
        }
    }

    /**
     * Points fd 0 and fd 1 (and fd 2 when {@code stderrToo}) at /dev/null once the shim has printed its address: the
     * launcher reads stdout and stderr until it has the address, containerd's stdin pipe is read already, and a
     * long-lived shim holds none of start's pipes.
     */
    static void detachStdio(boolean stderrToo) throws IOException {
        int nul = Fds.open(Path.of("/dev/null"), Fds.O_RDWR | Fds.O_CLOEXEC, 0);
        try {
            Fds.dup2(nul, 0);
            Fds.dup2(nul, 1);
            if (stderrToo) {
                Fds.dup2(nul, 2);
            }
        } finally {
            Fds.close(nul);
        }
    }

    private static Optional<Integer> probe(Path bundle) throws IOException {
        try {
            return Optional.of(Fds.open(bundle.resolve(NAME), Fds.O_WRONLY | Fds.O_NONBLOCK | Fds.O_CLOEXEC, 0));
        } catch (ErrnoException e) {
            if (e.errno() == ENXIO || e.errno() == ENOENT) {
                return Optional.empty();
            }
            throw e;
        }
    }
}
