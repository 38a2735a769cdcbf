package io.javakata.hypervisor.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import io.javakata.hypervisor.Accelerator;
import io.javakata.hypervisor.AgentEndpoint;
import io.javakata.hypervisor.ChildProcesses;
import io.javakata.hypervisor.ConsoleRing;
import io.javakata.hypervisor.HostSpawner;
import io.javakata.hypervisor.Hypervisor;
import io.javakata.hypervisor.VhostDeviceVsock;
import io.javakata.hypervisor.Virtiofsd;
import io.javakata.hypervisor.VmSpec;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.UserPrincipalNotFoundException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * The QEMU 7.2 driver: virtiofsd (if the spec shares a directory), the KVM/TCG choice, QEMU in the
 * foreground with QMP, the serial console copied into a bounded ring of files ({@link ConsoleRing})
 * and the agent channel, all under the spec's state directory ({@link VmPaths}). QEMU runs under its
 * seccomp filter and, when the spec names a user, switches to it before the guest runs (see
 * {@link QemuFragment.Seccomp}, docs/architecture.md "Confinement").
 *
 * <p>Thread-safety: every method may be called from any thread. {@link #start()} and
 * {@link #stop(Duration)} are serialised by one lock, so a stop issued during a start waits for the
 * start to finish or fail (bounded by the boot timeout). After {@link #onExit()} completes because
 * the guest powered off, call {@link #stop(Duration)} anyway: it releases virtiofsd and the sockets.
 */
public final class QemuHypervisor implements Hypervisor {

    /** The virtio-serial port name the agent looks for in /sys/class/virtio-ports/NAME/name. */
    public static final String AGENT_PORT_NAME = "agent0";
    /** The virtio-serial port the agent serves its debug shell on, when the spec asks for one. */
    public static final String DEBUG_CONSOLE_PORT_NAME = "debug0";
    /** The vsock port the agent listens on. */
    public static final int VSOCK_AGENT_PORT = 1024;
    /** The journal's role of the hybrid vsock backend process. */
    public static final String VSOCK_BACKEND = "vhost-device-vsock";

    private static final System.Logger LOG = System.getLogger(QemuHypervisor.class.getName());
    private static final Duration TERM_GRACE = Duration.ofSeconds(2);
    private static final Duration VIRTIOFSD_SELF_EXIT = Duration.ofSeconds(1);
    private static final Duration QMP_COMMAND_TIMEOUT = Duration.ofSeconds(5);
    private static final Duration MIGRATION_POLL = Duration.ofMillis(10);
    /** The shim's own network namespace, where a spec without one has its taps. */
    private static final Path HOST_NETNS = Path.of("/proc/self/ns/net");
    /** coreutils cp, for a sparse copy of a template's memory file. */
    private static final String CP = "/bin/cp";

    private enum State { NEW, STARTING, RUNNING, STOPPED }

    private final VmSpec spec;
    /** Changes only by {@link #relocate} (a spare VM a pod takes). */
    private volatile VmPaths paths;
    private final QemuCommandLine.Launch launchMode;
    /** The template a clone restores, or null. */
    private final VmTemplate template;
    /** A clone's RAM, or null. */
    private final CloneMemory cloneMemory;
    private final Path kvmProbeCache;
    private final Path vsockCidDir;
    private final ReentrantLock lock = new ReentrantLock();
    private final CompletableFuture<Integer> exit = new CompletableFuture<>();
    private final CompletableFuture<String> backendExit = new CompletableFuture<>();
    /** Set before an orderly shutdown ends virtiofsd, so its exit is not reported as a fault. */
    private volatile boolean stopping;

    private volatile State state = State.NEW;
    private volatile Virtiofsd virtiofsd;
    private volatile VhostDeviceVsock vsockBackend;
    private volatile Process qemu;
    private volatile ConsoleRing console;
    private volatile QmpClient qmp;
    private volatile Accelerator.Choice choice;
    private volatile AgentEndpoint endpoint;
    private volatile long vsockCid = -1;
    /** The next free root port of a clone (rp1 takes its share, the others its NICs); guarded by {@link #lock}. */
    private int nextRootPort = 1;

    /** A driver caching the KVM verdict in {@link KvmProbe#DEFAULT_CACHE}. */
    public QemuHypervisor(VmSpec spec) {
        this(spec, KvmProbe.DEFAULT_CACHE);
    }

    /**
     * @param kvmProbeCache where the KVM verdict is cached per host boot; its directory also holds
     *                      {@code vsock-cids/}, the host-wide registry of vsock CIDs in use
     */
    public QemuHypervisor(VmSpec spec, Path kvmProbeCache) {
        this(spec, kvmProbeCache, new QemuCommandLine.Launch.Cold(), null, null);
    }

    private QemuHypervisor(VmSpec spec, Path kvmProbeCache, QemuCommandLine.Launch launchMode, VmTemplate template,
                           CloneMemory cloneMemory) {
        this.spec = Objects.requireNonNull(spec, "spec");
        this.paths = new VmPaths(spec.stateDir());
        this.launchMode = launchMode;
        this.template = template;
        this.cloneMemory = cloneMemory;
        this.kvmProbeCache = Objects.requireNonNull(kvmProbeCache, "kvmProbeCache");
        this.vsockCidDir = kvmProbeCache.toAbsolutePath().resolveSibling("vsock-cids");
    }

    /**
     * A VM template of {@code spec}'s shape: its guest RAM is {@code memory} (closed when the VM stops; the driver
     * owns it from here, even if this throws), and {@link #saveTemplate} writes its state and a sparse copy of that
     * RAM to {@link VmPaths#memory()}. The spec must carry no pod device (share, NIC, network namespace), and QEMU
     * stays root ({@code runAs} ""; the guest runs only javakata's kernel and agent, never a container): it sends
     * its state to a socket only root reaches.
     */
    public static QemuHypervisor template(VmSpec spec, Path kvmProbeCache, CloneMemory memory) {
        Objects.requireNonNull(memory, "memory");
        if (spec.sharedFs() != null || !spec.nics().isEmpty() || spec.netns() != null || !spec.runAs().isEmpty()) {
            memory.close();
            throw new IllegalArgumentException("template VM " + spec.id() + ": its spec must have no share, NIC, "
                    + "network namespace or run_as user");
        }
        return new QemuHypervisor(spec, kvmProbeCache, new QemuCommandLine.Launch.Template(memory.path()), null,
                memory);
    }

    /**
     * A VM that starts by restoring {@code template} (which must be of {@code spec}'s {@link TemplateShape}): its RAM
     * is {@code memory}, filled with a sparse copy of the template's memory file at start and closed when the VM
     * stops (the driver owns it from here, even if this throws); its share and NICs are hot-plugged after the restore,
     * before the guest runs.
     */
    public static QemuHypervisor cloneOf(VmSpec spec, Path kvmProbeCache, VmTemplate template, CloneMemory memory) {
        Objects.requireNonNull(memory, "memory");
        try {
            Objects.requireNonNull(template, "template");
            TemplateShape.unsupported(spec).ifPresent(reason -> {
                throw new IllegalArgumentException("clone VM " + spec.id() + ": " + reason);
            });
        } catch (RuntimeException e) {
            memory.close();
            throw e;
        }
        Path kernel = Files.isRegularFile(template.kernelHeader()) ? template.kernelHeader() : spec.kernel();
        return new QemuHypervisor(spec, kvmProbeCache, new QemuCommandLine.Launch.Clone(memory.path(), kernel),
                template, memory);
    }

    /**
     * Starts virtiofsd (waiting up to the boot timeout for its socket), chooses the accelerator,
     * launches QEMU and waits up to the boot timeout for QMP to answer and report "running".
     *
     * @throws IOException with QEMU's (or virtiofsd's) own error text; everything launched is killed
     *                     and the sockets removed before it propagates
     */
    @Override
    public void start(Consumer<OwnedProcess> launched) throws IOException {
        Objects.requireNonNull(launched, "launched");
        lock.lock();
        try {
            if (state != State.NEW) {
                throw new IllegalStateException("start VM " + spec.id() + ": it is " + state
                        + ", and start may be called once");
            }
            state = State.STARTING;
            try {
                launch(launched);
                state = State.RUNNING;
            } catch (IOException | RuntimeException e) {
                shutdown(Duration.ZERO);
                state = State.STOPPED;
                IOException failure = new IOException("start VM " + spec.id() + ": " + e.getMessage(), e);
                Process process = qemu;
                if (process != null && !process.isAlive()) {
                    exit.complete(process.exitValue());
                } else {
                    exit.completeExceptionally(failure);
                }
                if (e instanceof RuntimeException runtime) {
                    throw runtime;
                }
                throw failure;
            }
        } finally {
            lock.unlock();
        }
    }

    private void launch(Consumer<OwnedProcess> launched) throws IOException {
        paths.checkSocketLengths();
        if (spec.netns() != null && !Files.exists(spec.netns())) {
            throw new IOException("netns=" + spec.netns() + ": no such network namespace file");
        }
        Files.createDirectories(spec.stateDir());
        for (Path socket : paths.sockets()) {
            Files.deleteIfExists(socket); // left by a run that was killed
        }
        checkRunAs();
        VmSpec.SharedFs shared = spec.sharedFs();
        if (shared != null) {
            virtiofsd = Virtiofsd.start(shared.confined(), shared.virtiofsd(), paths.virtiofsdSocket(), shared.source(), shared.cache(),
                    paths.virtiofsdLog(), spec.bootTimeout(), spec.hostCgroup());
            Virtiofsd daemon = virtiofsd;
            launched.accept(new OwnedProcess("virtiofsd", daemon.pid()));
            daemon.onExit().thenAccept(code -> {
                if (state == State.RUNNING && !stopping) {
                    backendExited("virtiofsd pid " + daemon.pid() + " exited with code " + code
                            + " while the VM ran: " + ChildProcesses.logTail(paths.virtiofsdLog(), 500));
                }
            });
        }
        if (spec.agentChannel() == VmSpec.AgentChannel.HYBRID_VSOCK) {
            startVsockBackend(launched);
        }
        choice = KvmProbe.choose(spec.accelerator(), spec.vmmBinary(), spec.machine(), kvmProbeCache);
        LOG.log(System.Logger.Level.INFO, "VM {0}: accelerator {1} ({2})", spec.id(), choice.accelerator(),
                choice.reason());
        OptionalLong cid = OptionalLong.empty();
        if (spec.agentChannel() == VmSpec.AgentChannel.VSOCK) {
            vsockCid = VsockCids.allocate(vsockCidDir, spec.id());
            cid = OptionalLong.of(vsockCid);
        }
        if (template != null) {
            copyMemory();
        }
        QemuCommandLine commandLine = QemuCommandLine.of(spec, choice.accelerator(), cid, hostTscKhz(), launchMode);
        Process process = launchQemu(commandLine);
        launched.accept(new OwnedProcess(OwnedProcess.VMM, process.pid()));
        attachConsole(process);
        awaitRunning(process);
        endpoint = switch (spec.agentChannel()) {
            case SERIAL -> new AgentEndpoint.Serial(paths.agentSocket(), AGENT_PORT_NAME);
            case VSOCK -> new AgentEndpoint.Vsock(vsockCid, VSOCK_AGENT_PORT);
            case HYBRID_VSOCK -> new AgentEndpoint.HybridVsock(paths.hybridVsockSocket(), VSOCK_AGENT_PORT);
        };
    }

    /**
     * The VM's vsock backend for the hybrid vsock channel, before QEMU (which connects to its vhost-user socket at
     * start-up); journaled and watched like virtiofsd: its exit while the VM runs cuts the agent off.
     */
    private void startVsockBackend(Consumer<OwnedProcess> launched) throws IOException {
        if (spec.vsockBackend() == null) {
            throw new IOException("agentChannel=HYBRID_VSOCK: QEMU needs a vhost-user vsock backend "
                    + "(vhost-device-vsock) and the spec names none");
        }
        VhostDeviceVsock backend = VhostDeviceVsock.start(spec.vsockBackend(), paths.vsockBackendSocket(),
                paths.hybridVsockSocket(), paths.vsockBackendLog(), spec.bootTimeout(), spec.hostCgroup());
        vsockBackend = backend;
        launched.accept(new OwnedProcess(VSOCK_BACKEND, backend.pid()));
        backend.onExit().thenAccept(code -> {
            if (state == State.RUNNING && !stopping) {
                backendExited("vhost-device-vsock pid " + backend.pid() + " exited with code " + code
                        + " while the VM ran: " + ChildProcesses.logTail(paths.vsockBackendLog(), 500));
            }
        });
    }

    /**
     * A configured user must exist (QEMU would fail late with "User ... doesn't exist"); without one
     * QEMU keeps root, which is allowed but said.
     */
    private void checkRunAs() throws IOException {
        if (spec.runAs().isEmpty()) {
            LOG.log(System.Logger.Level.WARNING, "VM {0}: QEMU runs as root because no user is configured for it "
                    + "(hypervisor.run_as is empty); its seccomp filter still applies", spec.id());
            return;
        }
        try {
            spec.stateDir().getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName(spec.runAs());
        } catch (UserPrincipalNotFoundException e) {
            throw new IOException("runAs=" + spec.runAs() + ": no such user on this host (make install creates it; "
                    + "or set hypervisor.run_as = \"\" to run QEMU as root)", e);
        }
    }

    /** Starts copying the guest's console into its bounded ring; QEMU is paused, so nothing is lost. */
    private void attachConsole(Process process) throws IOException {
        try {
            console = ConsoleRing.connect(paths.consoleSocket(), paths.consoleLog(), spec.consoleLogMaxBytes(),
                    process, spec.bootTimeout());
        } catch (IOException e) {
            ChildProcesses.awaitExit(process.toHandle(), Duration.ofMillis(200));
            throw new IOException(e.getMessage() + "; " + paths.qemuLog() + ": "
                    + ChildProcesses.logTail(paths.qemuLog(), 2000), e);
        }
    }

    /** Only a microvm guest under TCG needs it (see {@link HostTsc}). */
    private OptionalLong hostTscKhz() {
        if (MachineType.of(spec.machine()) != MachineType.MICROVM || choice.accelerator() != Accelerator.TCG) {
            return OptionalLong.empty();
        }
        OptionalLong khz = HostTsc.khz(HostTsc.CPUINFO);
        if (khz.isEmpty()) {
            LOG.log(System.Logger.Level.WARNING, "VM {0}: host TSC frequency unknown; a microvm guest under "
                    + "TCG may hang calibrating its TSC on a loaded host", spec.id());
        }
        return khz;
    }

    /**
     * QEMU in the foreground, so this JVM owns it and its exit status, started through
     * {@link HostSpawner} (in the pod's cgroup, dying with the shim); its output goes to qemu.log.
     */
    private Process launchQemu(QemuCommandLine commandLine) throws IOException {
        LOG.log(System.Logger.Level.DEBUG, "VM {0}: launching {1}", spec.id(), commandLine.render());
        Process process = template == null
                ? HostSpawner.start(commandLine.argv(), spec.hostCgroup(), paths.qemuLog())
                : HostSpawner.start(commandLine.argv(), spec.hostCgroup(), paths.qemuLog(), template.state());
        qemu = process;
        process.onExit().thenAccept(p -> {
            LOG.log(System.Logger.Level.INFO, "VM {0}: QEMU pid {1} exited with code {2}", spec.id(), p.pid(),
                    p.exitValue());
            exit.complete(p.exitValue());
        });
        LOG.log(System.Logger.Level.INFO, "VM {0}: QEMU pid {1} launched", spec.id(), process.pid());
        return process;
    }

    private void awaitRunning(Process process) throws IOException {
        try {
            qmp = QmpConnector.connect(paths.qmpSocket(), process, spec.bootTimeout());
            if (template != null) {
                handOverTaps();
                restore();
            }
            // QEMU starts paused (-S): the guest runs only now, after QEMU dropped root and with its console read.
            qmp.execute("cont", Map.of(), QMP_COMMAND_TIMEOUT);
            JsonNode status = qmp.execute("query-status", Map.of(), QMP_COMMAND_TIMEOUT);
            if (!"running".equals(status.path("status").asText())) {
                throw new IOException("QEMU is up but query-status reports " + status);
            }
        } catch (IOException e) {
            // The process may be exiting right now; give it a moment so its last words reach the log.
            ChildProcesses.awaitExit(process.toHandle(), Duration.ofMillis(200));
            throw new IOException(e.getMessage() + "; " + paths.qemuLog() + ": "
                    + ChildProcesses.logTail(paths.qemuLog(), 2000), e);
        }
    }

    @Override
    public AgentEndpoint agentEndpoint() {
        return requireStarted(endpoint, "agentEndpoint");
    }

    /** Under hybrid vsock, until the guest has started the vsock device ({@link VsockDeviceStart}). */
    @Override
    public void awaitAgentChannel(Duration timeout, CompletableFuture<?> giveUp) throws IOException {
        requireStarted(endpoint, "awaitAgentChannel");
        if (spec.agentChannel() == VmSpec.AgentChannel.HYBRID_VSOCK) {
            QmpClient client = qmp();
            long began = System.nanoTime();
            VsockDeviceStart.await((command, arguments) -> client.execute(command, arguments, QMP_COMMAND_TIMEOUT),
                    QemuFragment.VhostUserVsock.DEVICE_ID, timeout, giveUp);
            LOG.log(System.Logger.Level.INFO, "VM {0}: the guest started its vsock device {1} ms after the first look",
                    spec.id(), String.valueOf((System.nanoTime() - began) / 1_000_000));
        }
    }

    @Override
    public long pid() {
        return requireStarted(qemu, "pid").pid();
    }

    @Override
    public Accelerator.Choice accelerator() {
        return requireStarted(choice, "accelerator");
    }

    /** The QMP connection, for hotplug and queries; valid from {@link #start()} until stop. */
    public QmpClient qmp() {
        return requireStarted(qmp, "qmp");
    }

    /** The files of this VM (console log, sockets). */
    public VmPaths paths() {
        return paths;
    }

    @Override
    public CompletableFuture<Integer> onExit() {
        return exit;
    }

    @Override
    public List<OwnedProcess> processes() {
        List<OwnedProcess> owned = new ArrayList<>();
        Process process = qemu;
        if (process != null) {
            owned.add(new OwnedProcess(OwnedProcess.VMM, process.pid()));
        }
        Virtiofsd daemon = virtiofsd;
        if (daemon != null) {
            owned.add(new OwnedProcess("virtiofsd", daemon.pid()));
        }
        VhostDeviceVsock backend = vsockBackend;
        if (backend != null) {
            owned.add(new OwnedProcess(VSOCK_BACKEND, backend.pid()));
        }
        return List.copyOf(owned);
    }

    @Override
    public CompletableFuture<String> onBackendExit() {
        return backendExit;
    }

    /** A backend's exit while the VM runs: logged here, once, whichever exit {@code VmEnd} then reports. */
    private void backendExited(String why) {
        LOG.log(System.Logger.Level.INFO, "VM {0}: {1}", spec.id(), why);
        backendExit.complete(why);
    }

    /**
     * Sends QMP {@code quit}, waits up to {@code grace} for QEMU to exit, then SIGTERM and SIGKILL;
     * then lets virtiofsd exit (it does once QEMU disconnects) or kills it, ends the vsock backend, and removes the
     * sockets.
     */
    @Override
    public void stop(Duration grace) {
        Objects.requireNonNull(grace, "grace");
        lock.lock();
        try {
            if (state == State.STOPPED) {
                return;
            }
            if (state == State.NEW) {
                exit.completeExceptionally(new IOException("VM " + spec.id() + " was never started"));
            }
            shutdown(grace);
            state = State.STOPPED;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void close() {
        stop(Duration.ofSeconds(2));
    }

    /** Ends whatever was launched, in reverse order. Never throws. */
    private void shutdown(Duration grace) {
        stopping = true;
        Process process = qemu;
        if (process != null && process.isAlive()) {
            quit(process, grace);
        }
        if (process != null && !process.isAlive()) {
            // Its exit is recorded by an onExit callback that may not have run yet: onExit() is done when stop returns.
            exit.complete(process.exitValue());
        }
        if (qmp != null) {
            qmp.close();
        }
        if (console != null) {
            console.close();
        }
        if (virtiofsd != null) {
            virtiofsd.awaitExit(VIRTIOFSD_SELF_EXIT);
            virtiofsd.close();
        }
        if (vsockBackend != null) {
            vsockBackend.close();
        }
        if (vsockCid >= 0) {
            VsockCids.release(vsockCidDir, vsockCid);
        }
        paths.sockets().forEach(ChildProcesses::deleteQuietly);
        if (cloneMemory != null) {
            cloneMemory.close();
        }
        LOG.log(System.Logger.Level.INFO, "VM {0}: stopped", spec.id());
    }

    private void quit(Process process, Duration grace) {
        long deadline = System.nanoTime() + grace.toNanos();
        if (qmp != null && grace.isPositive()) {
            try {
                qmp.execute("quit", Map.of(), grace);
            } catch (IOException e) {
                // QEMU may close the socket before or right after its reply: that is a successful quit.
                LOG.log(System.Logger.Level.DEBUG, "VM {0}: quit: {1}", spec.id(), e.getMessage());
            }
        }
        Duration left = Duration.ofNanos(Math.max(0, deadline - System.nanoTime()));
        if (!ChildProcesses.awaitExit(process.toHandle(), left)) {
            if (grace.isPositive()) {
                LOG.log(System.Logger.Level.WARNING, "VM {0}: QEMU did not quit within {1}; terminating it",
                        spec.id(), grace);
            }
            ChildProcesses.terminate(process.toHandle(), TERM_GRACE);
        }
    }

    /**
     * A clone's RAM: a sparse copy of the template's memory file into {@link #cloneMemory} ({@code cp --sparse=always}:
     * only the pages the template touched and did not free take room). A copy, not the template's file itself: the
     * RAM must stay shared ({@code share=on}) for virtiofsd to map it, so the clone's writes would land in the
     * template.
     */
    private void copyMemory() throws IOException {
        long started = System.nanoTime();
        sparseCopy(template.memory(), cloneMemory.path(), spec.bootTimeout());
        LOG.log(System.Logger.Level.INFO, "VM {0}: memory of template {1} copied in {2} ms", spec.id(),
                template.dir().getFileName(), (System.nanoTime() - started) / 1_000_000);
    }

    /**
     * {@code cp --sparse=always from to}: every all-zero block of {@code from} is a hole in {@code to}. Through the
     * spawner, into the VM's host cgroup: the copy's pages are charged to whoever writes them, and they are the pod's
     * RAM (or its template's), as a cold-booted VM's memfd pages are QEMU's.
     */
    private void sparseCopy(Path from, Path to, Duration timeout) throws IOException {
        Path log = paths.stateDir().resolve("memory-copy.log");
        Process cp = HostSpawner.start(List.of(CP, "--sparse=always", from.toString(), to.toString()),
                spec.hostCgroup(), log);
        try {
            if (!cp.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                cp.destroyForcibly();
                throw new IOException("copy " + from + " to " + to + ": not done within " + timeout.toSeconds() + " s");
            }
        } catch (InterruptedException e) {
            cp.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("copy " + from + ": interrupted", e);
        }
        if (cp.exitValue() != 0) {
            throw new IOException("copy " + from + " to " + to + ": cp exited with "
                    + cp.exitValue() + ": " + ChildProcesses.logTail(log, 500));
        }
        ChildProcesses.deleteQuietly(log);
    }

    /**
     * Restores a clone, paused: x-ignore-shared (its RAM is the copied file, absent from the stream), the stream
     * from fd 0 (the template's state, opened by the spawner), then the pod's share and NICs (on the tap backends
     * {@link #handOverTaps} made) hot-plugged onto the root ports while the guest is still stopped, so they are there
     * when it resumes.
     */
    private void restore() throws IOException {
        long started = System.nanoTime();
        nextRootPort = 1;
        qmp.execute("migrate-set-capabilities", Map.of("capabilities",
                List.of(Map.of("capability", "x-ignore-shared", "state", true))), QMP_COMMAND_TIMEOUT);
        qmp.execute("migrate-incoming", Map.of("uri", "fd:0"), QMP_COMMAND_TIMEOUT);
        awaitMigration("restore of template " + template.dir().getFileName(), spec.bootTimeout());
        if (spec.sharedFs() != null) {
            qmp.execute("device_add", Map.of("driver", "vhost-user-fs-pci", "id", QemuFragment.VIRTIOFS_CHARDEV + "-dev",
                    "chardev", QemuFragment.VIRTIOFS_CHARDEV, "tag", spec.sharedFs().tag(),
                    "queue-size", QemuFragment.VIRTIOFS_QUEUE_SIZE, "bus", "rp" + nextRootPort++),
                    QMP_COMMAND_TIMEOUT);
        }
        addNicDevices(spec.nics());
        LOG.log(System.Logger.Level.INFO, "VM {0}: restored from template {1} in {2} ms, {3} device(s) hot-plugged",
                spec.id(), template.dir().getFileName(), (System.nanoTime() - started) / 1_000_000,
                nextRootPort - 1);
    }

    /** virtio-net-pci for each NIC (its tap backend handed over before), on the next free root ports. */
    private void addNicDevices(List<VmSpec.Nic> nics) throws IOException {
        if (nextRootPort + nics.size() > QemuCommandLine.PCIE_ROOT_PORTS + 1) {
            throw new IOException(nics.size() + " NIC(s) do not fit the " + (QemuCommandLine.PCIE_ROOT_PORTS + 1
                    - nextRootPort) + " free root port(s) of VM " + spec.id());
        }
        for (VmSpec.Nic nic : nics) {
            qmp.execute("device_add", Map.of("driver", "virtio-net-pci", "netdev", nic.id(), "id", nic.id() + "-dev",
                    "mac", nic.mac().toLowerCase(Locale.ROOT), "bus", "rp" + nextRootPort++), QMP_COMMAND_TIMEOUT);
        }
    }

    @Override
    public boolean adoptable() {
        return template != null;
    }

    @Override
    public void relocate(Path stateDir) {
        if (template == null) {
            throw new UnsupportedOperationException("VM " + spec.id() + " was not restored from a template");
        }
        lock.lock();
        try {
            paths = new VmPaths(stateDir);
            ConsoleRing ring = console;
            if (ring != null) {
                ring.moveTo(paths.consoleLog());
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * Hands {@code nics}' taps (opened in {@code netns}) to the running clone over its second monitor, as a restore
     * does ({@link TapHandOver}), then hot-plugs their devices; the guest finds them as it found its share.
     */
    @Override
    public void plugNics(List<VmSpec.Nic> nics, Path netns) throws IOException {
        if (template == null) {
            throw new UnsupportedOperationException("VM " + spec.id() + " was not restored from a template");
        }
        lock.lock();
        try {
            if (state != State.RUNNING || stopping) {
                throw new IOException("VM " + spec.id() + " is " + (stopping ? "stopping" : state));
            }
            long started = System.nanoTime();
            TapHandOver.handOver(paths.tapQmpSocket(), netns != null ? netns : HOST_NETNS, nics, QMP_COMMAND_TIMEOUT);
            addNicDevices(nics);
            LOG.log(System.Logger.Level.INFO, "VM {0}: {1} NIC(s) hot-plugged into the running guest in {2} ms",
                    spec.id(), nics.size(), (System.nanoTime() - started) / 1_000_000);
        } finally {
            lock.unlock();
        }
    }

    /**
     * A clone's QEMU runs in a network namespace of its own: it gets the pod's taps as descriptors on its second
     * monitor ({@link TapHandOver}), opened in the pod's namespace (the host's when the spec names none).
     */
    private void handOverTaps() throws IOException {
        if (spec.nics().isEmpty()) {
            return;
        }
        long started = System.nanoTime();
        Path netns = spec.netns() != null ? spec.netns() : HOST_NETNS;
        TapHandOver.handOver(paths.tapQmpSocket(), netns, spec.nics(), QMP_COMMAND_TIMEOUT);
        LOG.log(System.Logger.Level.DEBUG, "VM {0}: {1} tap(s) handed to QEMU in {2} ms", spec.id(), spec.nics().size(),
                (System.nanoTime() - started) / 1_000_000);
    }

    /** Polls query-migrate until the migration completed; fails on "failed"/"cancelled" or after {@code timeout}. */
    private void awaitMigration(String what, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            JsonNode status = qmp.execute("query-migrate", Map.of(), QMP_COMMAND_TIMEOUT);
            String state = status.path("status").asText("");
            switch (state) {
                case "completed" -> {
                    return;
                }
                case "failed", "cancelled" -> throw new IOException(what + ": " + state + ": "
                        + status.path("error-desc").asText("no reason given"));
                default -> {
                    if (System.nanoTime() - deadline > 0) {
                        throw new IOException(what + ": not completed within " + timeout.toSeconds()
                                + " s (status " + (state.isEmpty() ? "none" : state) + ")");
                    }
                    try {
                        Thread.sleep(MIGRATION_POLL);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new IOException(what + ": interrupted", e);
                    }
                }
            }
        }
    }

    /**
     * Saves a running template VM (see {@link #template}): pauses it, sends its state with x-ignore-shared (the
     * stream leaves the RAM out) to a socket in its state dir that this JVM reads into {@code stateFile}, then
     * copies its RAM, sparse, to {@link VmPaths#memory()}, and writes the kernel's boot header beside
     * {@code stateFile} ({@code kernel-header}, {@link KernelBootHeader}) for its clones. The VM stays paused; stop
     * it afterwards.
     */
    public void saveTemplate(Path stateFile, Duration timeout) throws IOException {
        if (!(launchMode instanceof QemuCommandLine.Launch.Template)) {
            throw new IllegalStateException("saveTemplate: VM " + spec.id() + " is not a template VM");
        }
        QmpClient client = qmp();
        long started = System.nanoTime();
        Path socket = paths.saveSocket();
        Files.deleteIfExists(socket);
        try (ServerSocketChannel server = ServerSocketChannel.open(
                StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(socket));
            CompletableFuture<Long> received = new CompletableFuture<>();
            Thread.ofVirtual().name("template-save-" + spec.id()).start(() -> {
                try (SocketChannel peer = server.accept();
                     FileChannel out = FileChannel.open(stateFile,
                             StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                             StandardOpenOption.TRUNCATE_EXISTING)) {
                    long total = 0;
                    ByteBuffer buffer = ByteBuffer.allocate(1 << 16);
                    while (peer.read(buffer) >= 0) {
                        buffer.flip();
                        while (buffer.hasRemaining()) {
                            total += out.write(buffer);
                        }
                        buffer.clear();
                    }
                    out.force(true);
                    received.complete(total);
                } catch (IOException | RuntimeException e) {
                    received.completeExceptionally(e);
                }
            });
            client.execute("stop", Map.of(), QMP_COMMAND_TIMEOUT);
            client.execute("migrate-set-capabilities", Map.of("capabilities",
                    List.of(Map.of("capability", "x-ignore-shared", "state", true))), QMP_COMMAND_TIMEOUT);
            client.execute("migrate", Map.of("uri", "unix:" + socket), QMP_COMMAND_TIMEOUT);
            awaitMigration("save of template VM " + spec.id(), timeout);
            long bytes;
            try {
                long left = Math.max(1, timeout.toNanos() - (System.nanoTime() - started));
                bytes = received.get(left, TimeUnit.NANOSECONDS);
            } catch (ExecutionException e) {
                throw new IOException("save of template VM " + spec.id() + ": writing " + stateFile + ": "
                        + e.getCause().getMessage(), e.getCause());
            } catch (TimeoutException e) {
                throw new IOException("save of template VM " + spec.id() + ": QEMU did not close its stream within "
                        + timeout.toSeconds() + " s", e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("save of template VM " + spec.id() + ": interrupted", e);
            }
            long left = timeout.toNanos() - (System.nanoTime() - started);
            if (left <= 0) {
                throw new IOException("save of template VM " + spec.id() + ": no time left within "
                        + timeout.toSeconds() + " s to copy its memory");
            }
            sparseCopy(cloneMemory.path(), paths.memory(), Duration.ofNanos(left));
            boolean header = KernelBootHeader.write(spec.kernel(), stateFile.resolveSibling("kernel-header"));
            LOG.log(System.Logger.Level.INFO, "VM {0}: template saved in {1} ms, state {2} bytes, {3}", spec.id(),
                    (System.nanoTime() - started) / 1_000_000, bytes, header ? "clones boot from the kernel's header"
                            : "clones get the whole kernel (" + spec.kernel() + " has no bzImage header)");
        } finally {
            ChildProcesses.deleteQuietly(socket);
        }
    }

    private <T> T requireStarted(T value, String what) {
        if (value == null) {
            throw new IllegalStateException(what + ": VM " + spec.id() + " has not been started");
        }
        return value;
    }
}
