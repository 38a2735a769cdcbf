package io.javakata.hypervisor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One C virtiofsd (the one QEMU 7.2 ships, {@code /usr/lib/qemu/virtiofsd}) exporting a host
 * directory over a vhost-user socket. It serves exactly one VMM connection and exits by itself when
 * that connection closes; it leaves its socket file behind, which {@link #close()} removes.
 *
 * <p><b>Mount propagation.</b> virtiofsd runs with {@code -o sandbox=namespace}: it enters a new
 * mount namespace and pivots into the shared directory at start. Mounts made <em>later</em> under
 * the shared directory on the host (a container's rootfs, a volume) reach virtiofsd, and so the
 * guest, only if the shared directory is a mount with <b>shared</b> propagation when virtiofsd
 * starts (for example {@code mount --bind dir dir && mount --make-shared dir}). On this machine the
 * host's {@code /} is {@code private}, so a plain directory is not enough. {@code -o
 * announce_submounts} then lets the guest see such submounts as separate mounts.
 *
 * <p><b>Confinement.</b> At its first VMM connection virtiofsd forks: the parent (this pid) drops
 * every capability and waits; the child serves the guest in new mount, pid and network namespaces,
 * under its seccomp filter (always on in the C daemon) and with {@link #MODCAPS} removed from its
 * capabilities.
 *
 * <p>Thread-safety: {@link #close()} may be called from any thread, any number of times.
 */
public final class Virtiofsd implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(Virtiofsd.class.getName());
    private static final Duration TERM_GRACE = Duration.ofSeconds(2);

    /**
     * Capabilities removed from the C virtiofsd's own set, which keeps chown, dac_override, fowner,
     * fsetid, setgid, setuid, mknod and setfcap (QEMU 7.2 tools/virtiofsd/passthrough_ll.c,
     * setup_capabilities). The guest is hostile: without mknod a device node the guest makes in a
     * read-write volume fails with EPERM instead of appearing on the host (FIFOs and sockets need no
     * capability and still work); without setfcap it cannot plant file capabilities on host files.
     * The other six are what serving files as the guest's users needs (ownership, modes, setgid bits,
     * per-request fsuid/fsgid).
     */
    static final String MODCAPS = "-mknod:-setfcap";

    private final Process process;
    private final Path socket;
    private final CompletableFuture<Integer> exit;
    private final AtomicBoolean closed = new AtomicBoolean();

    private Virtiofsd(Process process, Path socket) {
        this.process = process;
        this.socket = socket;
        this.exit = process.onExit().thenApply(Process::exitValue);
    }

    /**
     * Launches virtiofsd and waits until its socket exists.
     *
     * @param binary    the C virtiofsd executable
     * @param socket    the vhost-user socket to create (replaced if it exists)
     * @param sharedDir the directory to export; must exist
     * @param cache     auto, always or none
     * @param logFile   receives virtiofsd's stdout and stderr
     * @param timeout   how long to wait for the socket
     * @throws IOException with virtiofsd's own log tail if it exits or the socket does not appear in
     *                     time; nothing is left running then
     */
    public static Virtiofsd start(Path binary, Path socket, Path sharedDir, String cache, Path logFile,
                                  Duration timeout) throws IOException {
        return start(null, binary, socket, sharedDir, cache, logFile, timeout, List.of());
    }

    /**
     * As {@link #start(Path, Path, Path, String, Path, Duration)}, spawned by {@code confined} (the shim passes
     * one whose thread holds a seccomp filter; see {@link VmSpec.SharedFs#confined()}), null for none. It starts
     * through {@link HostSpawner}: it dies with this JVM and sits in {@code cgroupDirs} (none: no cgroup change).
     */
    public static Virtiofsd start(HostSpawner.Confined confined, Path binary, Path socket, Path sharedDir,
                                  String cache, Path logFile, Duration timeout, List<Path> cgroupDirs)
            throws IOException {
        Objects.requireNonNull(binary, "binary");
        Objects.requireNonNull(socket, "socket");
        Objects.requireNonNull(sharedDir, "sharedDir");
        Objects.requireNonNull(logFile, "logFile");
        if (cache == null || !cache.matches("auto|always|none")) {
            throw new IllegalArgumentException("cache=" + cache + ": must be auto, always or none");
        }
        if (!Files.isDirectory(sharedDir)) {
            throw new IOException("virtiofsd: shared directory " + sharedDir + " does not exist");
        }
        Files.deleteIfExists(socket);
        Process process = HostSpawner.start(argv(binary, socket, sharedDir, cache), cgroupDirs, logFile,
                Path.of("/dev/null"), confined);
        Virtiofsd daemon = new Virtiofsd(process, socket);
        try {
            daemon.awaitSocket(timeout, logFile);
        } catch (IOException | RuntimeException e) {
            daemon.close();
            throw e;
        }
        LOG.log(System.Logger.Level.INFO, "virtiofsd pid {0} serves {1} on {2}", process.pid(), sharedDir, socket);
        return daemon;
    }

    /**
     * The command line for the C virtiofsd 7.2 (its options as {@code virtiofsd --help} of QEMU 7.2 lists
     * them, QEMU tools/virtiofsd/helper.c).
     */
    static List<String> argv(Path binary, Path socket, Path sharedDir, String cache) {
        List<String> argv = new ArrayList<>();
        argv.add(binary.toString());
        argv.add("--socket-path=" + socket);
        argv.addAll(List.of("-o", "source=" + sharedDir));
        argv.addAll(List.of("-o", "cache=" + cache));
        argv.addAll(List.of("-o", "sandbox=namespace"));
        argv.addAll(List.of("-o", "modcaps=" + MODCAPS));
        argv.addAll(List.of("-o", "announce_submounts"));
        // Kata's default for the C daemon: one worker thread keeps its footprint small per pod.
        argv.add("--thread-pool-size=1");
        argv.addAll(List.of("-o", "log_level=info"));
        return argv;
    }

    private void awaitSocket(Duration timeout, Path logFile) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        long backoffMillis = 5;
        int attempts = 0;
        while (!Files.exists(socket)) {
            attempts++;
            if (!process.isAlive()) {
                throw new IOException("virtiofsd exited with code " + process.exitValue()
                        + " before creating " + socket + ": " + ChildProcesses.logTail(logFile, 1500));
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new IOException("virtiofsd did not create " + socket + " within " + timeout
                        + " (" + attempts + " checks): " + ChildProcesses.logTail(logFile, 1500));
            }
            // Wakes early if the process exits; otherwise a short, growing pause between checks.
            Duration pause = Duration.ofMillis(Math.min(backoffMillis, left / 1_000_000 + 1));
            ChildProcesses.awaitExit(process.toHandle(), pause);
            backoffMillis = Math.min(backoffMillis * 2, 100);
        }
    }

    /** virtiofsd's host pid (the parent of its sandboxed child). */
    public long pid() {
        return process.pid();
    }

    /** The vhost-user socket the VMM connects to. */
    public Path socket() {
        return socket;
    }

    /** Completes with virtiofsd's exit code. */
    public CompletableFuture<Integer> onExit() {
        return exit;
    }

    /**
     * Waits up to {@code timeout} for virtiofsd to exit by itself (it does once its VMM disconnects).
     *
     * @return true if it has exited
     */
    public boolean awaitExit(Duration timeout) {
        return ChildProcesses.awaitExit(process.toHandle(), timeout);
    }

    /** Kills virtiofsd (and its sandboxed child) if still running, and removes its socket. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        if (process.isAlive()) {
            ChildProcesses.terminate(process.toHandle(), TERM_GRACE);
        }
        ChildProcesses.deleteQuietly(socket);
        LOG.log(System.Logger.Level.DEBUG, "virtiofsd pid {0} stopped", process.pid());
    }
}
