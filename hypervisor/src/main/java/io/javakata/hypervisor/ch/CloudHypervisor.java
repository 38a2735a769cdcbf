package io.javakata.hypervisor.ch;

import com.fasterxml.jackson.databind.JsonNode;
import io.javakata.hypervisor.Accelerator;
import io.javakata.hypervisor.AgentEndpoint;
import io.javakata.hypervisor.ChildProcesses;
import io.javakata.hypervisor.ConsoleRing;
import io.javakata.hypervisor.HostSpawner;
import io.javakata.hypervisor.Hypervisor;
import io.javakata.hypervisor.Virtiofsd;
import io.javakata.hypervisor.VmSpec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The Cloud Hypervisor driver: virtiofsd (if the spec shares a directory), then {@code cloud-hypervisor
 * --api-socket path=…} with no VM, then, through its REST API ({@link ChApiClient}): {@code vmm.ping} (which
 * also gives its version), {@code vm.create} with the {@link ChVmConfig}, the serial console socket read into a
 * bounded ring ({@link ConsoleRing}), and {@code vm.boot}. The agent is reached over Cloud Hypervisor's hybrid
 * vsock socket ({@link AgentEndpoint.HybridVsock}, port {@value #VSOCK_AGENT_PORT}), whatever the spec's agent
 * channel says: Cloud Hypervisor has no virtio-serial ports. Stop is {@code vm.shutdown}, {@code vm.delete},
 * {@code vmm.shutdown}, then SIGTERM and SIGKILL for a VMM that is still there.
 *
 * <p>Requirements, each checked before anything is launched and refused with a sentence saying why: KVM usable
 * ({@link CloudHypervisorHost}; Cloud Hypervisor has no TCG, so {@code accel = tcg} is refused too); and, once it
 * answers, a Cloud Hypervisor of at least v{@value #MIN_MAJOR_VERSION} (before it, a {@code net} entry without
 * {@code ip} still gave the tap 192.168.249.1/24: {@code NetConfig} in cloud-hypervisor/cloud-hypervisor
 * {@code vmm/src/vm_config.rs}). Cloud Hypervisor cannot switch to
 * another user, so {@link VmSpec#runAs()} does not apply (logged); it runs under its own seccomp filter, as root.
 *
 * <p>Thread-safety: every method may be called from any thread; {@link #start()} and {@link #stop(Duration)} are
 * serialised by one lock. Every API call has a deadline ({@value #API_TIMEOUT_SECONDS} s, less if the boot
 * timeout or the stop's grace ends first).
 */
public final class CloudHypervisor implements Hypervisor {

    /** The vsock port the agent listens on (the QEMU driver's too). */
    public static final int VSOCK_AGENT_PORT = 1024;
    /**
     * The guest's vsock CID. Cloud Hypervisor's vsock is its own user-space device behind a Unix socket per VM,
     * not the host kernel's vhost-vsock, so no host-wide registry is needed: every VM may use the first CID a
     * guest can have (0 to 2 are reserved).
     */
    static final long GUEST_CID = 3;
    /** The first release whose {@code net} entries without {@code ip} leave the tap's addresses alone. */
    static final int MIN_MAJOR_VERSION = 49;
    static final long API_TIMEOUT_SECONDS = 10;

    private static final System.Logger LOG = System.getLogger(CloudHypervisor.class.getName());
    private static final Duration API_TIMEOUT = Duration.ofSeconds(API_TIMEOUT_SECONDS);
    private static final Duration TERM_GRACE = Duration.ofSeconds(2);
    private static final Duration VIRTIOFSD_SELF_EXIT = Duration.ofSeconds(1);
    private static final String NSENTER = "/usr/bin/nsenter";

    private enum State { NEW, STARTING, RUNNING, STOPPED }

    private final VmSpec spec;
    private final ChPaths paths;
    private final ChApiClient api;
    private final Supplier<CloudHypervisorHost.Kvm> kvm;
    private final ReentrantLock lock = new ReentrantLock();
    private final CompletableFuture<Integer> exit = new CompletableFuture<>();
    private final CompletableFuture<String> backendExit = new CompletableFuture<>();
    private volatile boolean stopping;

    private volatile State state = State.NEW;
    private volatile Virtiofsd virtiofsd;
    private volatile Process vmm;
    private volatile ConsoleRing console;
    private volatile Accelerator.Choice choice;
    private volatile AgentEndpoint endpoint;
    private volatile String version = "";

    public CloudHypervisor(VmSpec spec) {
        this(spec, CloudHypervisorHost::kvm);
    }

    /** @param kvm says whether KVM is usable (tests pass a fixed verdict) */
    CloudHypervisor(VmSpec spec, Supplier<CloudHypervisorHost.Kvm> kvm) {
        this.spec = Objects.requireNonNull(spec, "spec");
        this.paths = new ChPaths(spec.stateDir());
        this.api = new ChApiClient(paths.apiSocket());
        this.kvm = Objects.requireNonNull(kvm, "kvm");
    }

    /**
     * Checks KVM, starts virtiofsd, launches Cloud Hypervisor and creates and boots the VM through its API,
     * within the spec's boot timeout.
     *
     * @throws IOException naming the step, with Cloud Hypervisor's own error text or its log's tail; everything
     *                     launched is stopped and the sockets removed before it propagates
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
                launch(launched, System.nanoTime() + spec.bootTimeout().toNanos());
                state = State.RUNNING;
            } catch (IOException | RuntimeException e) {
                shutdown(Duration.ZERO);
                state = State.STOPPED;
                IOException failure = new IOException("start VM " + spec.id() + ": " + e.getMessage(), e);
                Process process = vmm;
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

    private void launch(Consumer<OwnedProcess> launched, long deadline) throws IOException {
        paths.checkSocketLengths();
        choice = requireKvm();
        if (spec.debugConsole()) {
            throw new IOException("debugConsole: the debug console is a virtio-serial port, which Cloud Hypervisor "
                    + "does not have (set agent.debug_console = false, or use hypervisor.type = \"qemu\")");
        }
        if (spec.netns() != null && !Files.exists(spec.netns())) {
            throw new IOException("netns=" + spec.netns() + ": no such network namespace file");
        }
        if (!spec.runAs().isEmpty()) {
            LOG.log(System.Logger.Level.WARNING, "VM {0}: hypervisor.run_as={1} applies to QEMU only: Cloud "
                    + "Hypervisor cannot switch user and runs as root under its own seccomp filter", spec.id(),
                    spec.runAs());
        }
        if (spec.agentChannel() != VmSpec.AgentChannel.VSOCK) {
            LOG.log(System.Logger.Level.INFO, "VM {0}: the agent is reached over Cloud Hypervisor''s hybrid vsock "
                    + "(agent.transport={1} applies to QEMU only)", spec.id(), spec.agentChannel());
        }
        Files.createDirectories(spec.stateDir());
        for (Path socket : paths.sockets()) {
            Files.deleteIfExists(socket); // left by a run that was killed: Cloud Hypervisor's bind would fail
        }
        startVirtiofsd(launched);
        Process process = launchVmm();
        launched.accept(new OwnedProcess(OwnedProcess.VMM, process.pid()));
        try {
            awaitApi(process, deadline);
            api.put("vm.create", ChVmConfig.of(spec, paths, GUEST_CID), callTimeout(deadline));
            // The serial socket exists from vm.create on; reading it before vm.boot loses no boot line.
            console = ConsoleRing.connect(paths.consoleSocket(), paths.consoleLog(), spec.consoleLogMaxBytes(),
                    process, remaining(deadline));
            api.put("vm.boot", null, callTimeout(deadline));
        } catch (IOException e) {
            // The process may be exiting right now; give it a moment so its last words reach the log.
            ChildProcesses.awaitExit(process.toHandle(), Duration.ofMillis(200));
            throw new IOException(e.getMessage() + "; " + paths.vmmLog() + ": "
                    + ChildProcesses.logTail(paths.vmmLog(), 2000), e);
        }
        endpoint = new AgentEndpoint.HybridVsock(paths.vsockSocket(), VSOCK_AGENT_PORT);
        LOG.log(System.Logger.Level.INFO, "VM {0}: Cloud Hypervisor {1} pid {2} booted the VM", spec.id(), version,
                process.pid());
    }

    private Accelerator.Choice requireKvm() throws IOException {
        if (spec.accelerator() == Accelerator.TCG) {
            throw new IOException("accelerator=TCG: Cloud Hypervisor has no TCG, it runs only on KVM (configure "
                    + "hypervisor.accel = \"auto\" or \"kvm\", or use hypervisor.type = \"qemu\")");
        }
        CloudHypervisorHost.Kvm verdict = kvm.get();
        if (!verdict.usable()) {
            throw new IOException("Cloud Hypervisor needs KVM, and KVM is unusable on this host: " + verdict.reason());
        }
        return new Accelerator.Choice(Accelerator.KVM, "Cloud Hypervisor runs only on KVM; " + verdict.reason());
    }

    private void startVirtiofsd(Consumer<OwnedProcess> launched) throws IOException {
        VmSpec.SharedFs shared = spec.sharedFs();
        if (shared == null) {
            return;
        }
        virtiofsd = Virtiofsd.start(shared.confined(), shared.virtiofsd(), paths.virtiofsdSocket(), shared.source(),
                shared.cache(), paths.virtiofsdLog(), spec.bootTimeout(), spec.hostCgroup());
        Virtiofsd daemon = virtiofsd;
        launched.accept(new OwnedProcess("virtiofsd", daemon.pid()));
        daemon.onExit().thenAccept(code -> {
            if (state == State.RUNNING && !stopping) {
                String why = "virtiofsd pid " + daemon.pid() + " exited with code " + code + " while the VM ran: "
                        + ChildProcesses.logTail(paths.virtiofsdLog(), 500);
                LOG.log(System.Logger.Level.INFO, "VM {0}: {1}", spec.id(), why);
                backendExit.complete(why);
            }
        });
    }

    /** The VMM's command line: its API socket only; the VM comes through {@code vm.create}. */
    List<String> argv() {
        List<String> argv = new ArrayList<>();
        if (spec.netns() != null) {
            // The taps live in the pod's netns, and Cloud Hypervisor opens them by name (TUNSETIFF) in its own.
            argv.addAll(List.of(NSENTER, "--net=" + spec.netns()));
        }
        argv.add(spec.vmmBinary().toString());
        argv.addAll(List.of("--api-socket", "path=" + paths.apiSocket()));
        argv.add("-v");
        return argv;
    }

    private Process launchVmm() throws IOException {
        List<String> argv = argv();
        LOG.log(System.Logger.Level.DEBUG, "VM {0}: launching {1}", spec.id(), String.join(" ", argv));
        Process process = HostSpawner.start(argv, spec.hostCgroup(), paths.vmmLog());
        vmm = process;
        process.onExit().thenAccept(p -> {
            LOG.log(System.Logger.Level.INFO, "VM {0}: Cloud Hypervisor pid {1} exited with code {2}", spec.id(),
                    p.pid(), p.exitValue());
            exit.complete(p.exitValue());
        });
        LOG.log(System.Logger.Level.INFO, "VM {0}: Cloud Hypervisor pid {1} launched", spec.id(), process.pid());
        return process;
    }

    /**
     * Waits until the API socket answers {@code vmm.ping}, giving up at once if the VMM exits, then checks its
     * version. Polls with a growing pause (5 to 100 ms) that ends early when the process exits.
     */
    private void awaitApi(Process process, long deadline) throws IOException {
        int attempts = 0;
        long pauseMillis = 5;
        IOException last = null;
        while (true) {
            attempts++;
            if (!process.isAlive()) {
                throw new IOException("Cloud Hypervisor exited with code " + process.exitValue()
                        + " before its API socket " + paths.apiSocket() + " answered");
            }
            if (Files.exists(paths.apiSocket())) {
                JsonNode ping = null;
                boolean answered = false;
                try {
                    ping = api.get("vmm.ping", callTimeout(deadline));
                    answered = true;
                } catch (ChApiException e) {
                    throw e;
                } catch (IOException e) {
                    last = e; // bound but not yet accepting: try again
                }
                if (answered) {
                    checkVersion(ping);
                    return;
                }
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new IOException("Cloud Hypervisor's API socket " + paths.apiSocket() + " did not answer within "
                        + spec.bootTimeout() + " (" + attempts + " attempts"
                        + (last == null ? ", the socket never appeared" : ", last: " + last.getMessage()) + ")");
            }
            ChildProcesses.awaitExit(process.toHandle(), Duration.ofMillis(Math.min(pauseMillis, left / 1_000_000 + 1)));
            pauseMillis = Math.min(pauseMillis * 2, 100);
        }
    }

    /** {@code version} of {@code VmmPingResponse}: the crate version, "49.0.0" (a "v" prefix is accepted). */
    private void checkVersion(JsonNode ping) throws IOException {
        String text = ping == null ? "" : ping.path("version").asText("");
        version = text;
        int major = majorVersion(text);
        if (major < MIN_MAJOR_VERSION) {
            throw new IOException("Cloud Hypervisor version '" + text + "' (vmm.ping) is too old or unreadable: this "
                    + "driver needs v" + MIN_MAJOR_VERSION + ".0 or later");
        }
    }

    static int majorVersion(String version) {
        String digits = version.startsWith("v") ? version.substring(1) : version;
        int end = 0;
        while (end < digits.length() && Character.isDigit(digits.charAt(end))) {
            end++;
        }
        if (end == 0 || end > 6) {
            return -1;
        }
        return Integer.parseInt(digits.substring(0, end));
    }

    private static Duration remaining(long deadline) {
        long left = deadline - System.nanoTime();
        return Duration.ofNanos(Math.max(left, 1_000_000));
    }

    private static Duration callTimeout(long deadline) {
        Duration left = remaining(deadline);
        return left.compareTo(API_TIMEOUT) < 0 ? left : API_TIMEOUT;
    }

    @Override
    public AgentEndpoint agentEndpoint() {
        return requireStarted(endpoint, "agentEndpoint");
    }

    @Override
    public long pid() {
        return requireStarted(vmm, "pid").pid();
    }

    @Override
    public Accelerator.Choice accelerator() {
        return requireStarted(choice, "accelerator");
    }

    /** The files of this VM (console log, sockets). */
    public ChPaths paths() {
        return paths;
    }

    /** Cloud Hypervisor's version as {@code vmm.ping} reported it; "" before it answered. */
    public String version() {
        return version;
    }

    @Override
    public CompletableFuture<Integer> onExit() {
        return exit;
    }

    @Override
    public List<OwnedProcess> processes() {
        List<OwnedProcess> owned = new ArrayList<>();
        Process process = vmm;
        if (process != null) {
            owned.add(new OwnedProcess(OwnedProcess.VMM, process.pid()));
        }
        Virtiofsd daemon = virtiofsd;
        if (daemon != null) {
            owned.add(new OwnedProcess("virtiofsd", daemon.pid()));
        }
        return List.copyOf(owned);
    }

    @Override
    public CompletableFuture<String> onBackendExit() {
        return backendExit;
    }

    /**
     * Asks Cloud Hypervisor to shut the VM down, delete it and exit ({@code vm.shutdown}, {@code vm.delete},
     * {@code vmm.shutdown}), waits up to {@code grace} in all for it to exit, then SIGTERM and SIGKILL; then lets
     * virtiofsd exit or kills it, and removes the sockets. Idempotent; never throws.
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
        Process process = vmm;
        if (process != null && process.isAlive()) {
            quit(process, grace);
        }
        if (process != null && !process.isAlive()) {
            // Its exit is recorded by an onExit callback that may not have run yet: onExit() is done when stop returns.
            exit.complete(process.exitValue());
        }
        if (console != null) {
            console.close();
        }
        if (virtiofsd != null) {
            virtiofsd.awaitExit(VIRTIOFSD_SELF_EXIT);
            virtiofsd.close();
        }
        paths.sockets().forEach(ChildProcesses::deleteQuietly);
        LOG.log(System.Logger.Level.INFO, "VM {0}: stopped", spec.id());
    }

    private void quit(Process process, Duration grace) {
        long deadline = System.nanoTime() + grace.toNanos();
        if (grace.isPositive() && Files.exists(paths.apiSocket())) {
            // Each step may fail for a reason the next one makes moot (vm.shutdown of a VM that never booted is
            // refused; vm.delete shuts it down anyway): go on, and let vmm.shutdown or the signals finish.
            for (String action : List.of("vm.shutdown", "vm.delete", "vmm.shutdown")) {
                if (System.nanoTime() >= deadline || !process.isAlive()) {
                    break;
                }
                try {
                    api.put(action, null, callTimeout(deadline));
                } catch (IOException e) {
                    LOG.log(System.Logger.Level.DEBUG, "VM {0}: {1}", spec.id(), e.getMessage());
                }
            }
        }
        Duration left = Duration.ofNanos(Math.max(0, deadline - System.nanoTime()));
        if (!ChildProcesses.awaitExit(process.toHandle(), left)) {
            if (grace.isPositive()) {
                LOG.log(System.Logger.Level.WARNING, "VM {0}: Cloud Hypervisor did not exit within {1}; "
                        + "terminating it", spec.id(), grace);
            }
            ChildProcesses.terminate(process.toHandle(), TERM_GRACE);
        }
    }

    private <T> T requireStarted(T value, String what) {
        if (value == null) {
            throw new IllegalStateException(what + ": VM " + spec.id() + " has not been started");
        }
        return value;
    }
}
