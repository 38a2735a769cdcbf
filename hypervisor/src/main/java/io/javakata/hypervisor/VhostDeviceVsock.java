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
 * One vhost-device-vsock (rust-vmm's vhost-user vsock backend, Debian's {@code vhost-device-vsock} 0.3) serving
 * one VM: the VMM connects to its vhost-user socket and gets a virtio-vsock device, and host programs reach the
 * guest's AF_VSOCK listeners through its second socket with the hybrid vsock handshake ({@code CONNECT <port>\n},
 * answered {@code OK <host port>\n}; the hybrid vsock handshake of Firecracker's and
 * Cloud Hypervisor's docs/vsock.md). Both sockets exist once it has started; unlike
 * virtiofsd it does not exit when the VMM disconnects (it waits for the next one), so {@link #close()} ends it.
 *
 * <p><b>Confinement.</b> It needs no privilege at all (two Unix sockets and the VM's shared memory, which the VMM
 * passes over the vhost-user socket): it starts through {@code setpriv} with an empty bounding set and no
 * inheritable or ambient capability, so it runs with {@code CapEff 0} and {@code NoNewPrivs 1}, and through
 * {@link HostSpawner}, so it dies with the shim and sits in the pod's cgroup like QEMU and virtiofsd.
 *
 * <p>Thread-safety: {@link #close()} may be called from any thread, any number of times.
 */
public final class VhostDeviceVsock implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(VhostDeviceVsock.class.getName());
    private static final Duration TERM_GRACE = Duration.ofSeconds(2);
    /**
     * The guest's context id. Each pod has its own backend process, whose CIDs are its own (the host side is a
     * Unix socket, not the host's vsock address space), so every guest can have the first non-reserved CID.
     */
    public static final long GUEST_CID = 3;

    private final Process process;
    private final Path vhostUserSocket;
    private final Path hybridSocket;
    private final CompletableFuture<Integer> exit;
    private final AtomicBoolean closed = new AtomicBoolean();

    private VhostDeviceVsock(Process process, Path vhostUserSocket, Path hybridSocket) {
        this.process = process;
        this.vhostUserSocket = vhostUserSocket;
        this.hybridSocket = hybridSocket;
        this.exit = process.onExit().thenApply(Process::exitValue);
    }

    /**
     * Launches the backend and waits until both of its sockets exist.
     *
     * @param binary          the vhost-device-vsock executable
     * @param vhostUserSocket the socket the VMM connects to (replaced if it exists)
     * @param hybridSocket    the hybrid vsock socket host programs connect to (replaced if it exists)
     * @param logFile         receives its stdout and stderr
     * @param timeout         how long to wait for the sockets
     * @param cgroupDirs      the pod's host cgroup, one directory per hierarchy; empty for none
     * @throws IOException with its own log tail if it exits or a socket does not appear in time; nothing is left
     *                     running then
     */
    public static VhostDeviceVsock start(Path binary, Path vhostUserSocket, Path hybridSocket, Path logFile,
                                         Duration timeout, List<Path> cgroupDirs) throws IOException {
        Objects.requireNonNull(binary, "binary");
        Objects.requireNonNull(logFile, "logFile");
        if (!Files.isExecutable(binary)) {
            throw new IOException("vhost-device-vsock " + binary + " is not an executable file (agent.transport = "
                    + "\"hybrid-vsock\" under QEMU needs it: make install puts it in /usr/libexec/javakata, "
                    + "agent.vhost_device_vsock names it)");
        }
        Files.deleteIfExists(vhostUserSocket);
        Files.deleteIfExists(hybridSocket);
        Process process = HostSpawner.start(argv(binary, vhostUserSocket, hybridSocket), cgroupDirs, logFile);
        VhostDeviceVsock backend = new VhostDeviceVsock(process, vhostUserSocket, hybridSocket);
        try {
            backend.awaitSockets(timeout, logFile);
        } catch (IOException | RuntimeException e) {
            backend.close();
            throw e;
        }
        LOG.log(System.Logger.Level.INFO, "vhost-device-vsock pid {0} serves {1}, hybrid vsock on {2}",
                process.pid(), vhostUserSocket, hybridSocket);
        return backend;
    }

    /**
     * The command line: setpriv dropping every capability, then the backend with one VM ({@code --vm
     * guest-cid=…,socket=…,uds-path=…}, the syntax of {@code vhost-device-vsock --help} 0.3.0).
     */
    static List<String> argv(Path binary, Path vhostUserSocket, Path hybridSocket) {
        for (Path socket : List.of(vhostUserSocket, hybridSocket)) {
            if (socket.toString().contains(",")) {
                throw new IllegalArgumentException("socket=" + socket + ": must not contain ',' (the --vm syntax)");
            }
        }
        List<String> argv = new ArrayList<>(List.of(HostSpawner.SETPRIV.toString(), "--no-new-privs",
                "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--"));
        argv.add(binary.toString());
        argv.add("--vm");
        argv.add("guest-cid=" + GUEST_CID + ",socket=" + vhostUserSocket + ",uds-path=" + hybridSocket);
        return argv;
    }

    private void awaitSockets(Duration timeout, Path logFile) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        long backoffMillis = 5;
        int checks = 0;
        while (!Files.exists(vhostUserSocket) || !Files.exists(hybridSocket)) {
            checks++;
            if (!process.isAlive()) {
                throw new IOException("vhost-device-vsock exited with code " + process.exitValue() + " before "
                        + "creating its sockets: " + ChildProcesses.logTail(logFile, 1500));
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new IOException("vhost-device-vsock did not create " + vhostUserSocket + " and " + hybridSocket
                        + " within " + timeout + " (" + checks + " checks): " + ChildProcesses.logTail(logFile, 1500));
            }
            // Wakes early if the process exits; otherwise a short, growing pause between checks.
            ChildProcesses.awaitExit(process.toHandle(), Duration.ofMillis(Math.min(backoffMillis, left / 1_000_000 + 1)));
            backoffMillis = Math.min(backoffMillis * 2, 100);
        }
    }

    public long pid() {
        return process.pid();
    }

    /** The socket host programs connect to with {@code CONNECT <port>}. */
    public Path hybridSocket() {
        return hybridSocket;
    }

    /** Completes with its exit code. */
    public CompletableFuture<Integer> onExit() {
        return exit;
    }

    /** Ends it (SIGTERM, then SIGKILL) if still running, and removes both sockets. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        if (process.isAlive()) {
            ChildProcesses.terminate(process.toHandle(), TERM_GRACE);
        }
        ChildProcesses.deleteQuietly(vhostUserSocket);
        ChildProcesses.deleteQuietly(hybridSocket);
        LOG.log(System.Logger.Level.DEBUG, "vhost-device-vsock pid {0} stopped", process.pid());
    }
}
