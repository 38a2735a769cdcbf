package io.javakata.shim.sandbox;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javakata.hypervisor.ConsoleRing;
import io.javakata.hypervisor.HostSpawner;
import io.javakata.hypervisor.Hypervisor;
import io.javakata.hypervisor.VmEnd;
import io.javakata.hypervisor.VmSpec;
import io.javakata.shim.agent.Agent;
import io.javakata.shim.agent.TtrpcAgent;
import io.javakata.shim.config.RuntimeConfig;
import io.javakata.shim.config.ShimContext;
import io.javakata.shim.network.PodNetwork;
import io.javakata.shim.network.PortForwarder;
import io.javakata.shim.rootfs.Mounter;
import io.javakata.ttrpc.Errors;
import io.javakata.ttrpc.RuntimeStatusException;
import io.javakata.ttrpc.TtrpcClient;
import io.javakata.ttrpc.transport.Connection;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * One pod VM: its state directory, the shared directory virtiofsd exports, the hypervisor and the
 * agent connection. One per shim.
 *
 * <p>{@link #create} blocks until the agent answers (bounded by the configured boot timeout) or
 * fails having undone everything. {@link #stop()} is idempotent. Thread-safe: {@link #agent()} may
 * be used from any thread.
 */
public final class Sandbox {

    /** The virtiofs tag the guest mounts at {@link SandboxPaths#GUEST_SHARED_DIR}. */
    public static final String SHARED_FS_TAG = "javakata";

    private static final System.Logger LOG = System.getLogger(Sandbox.class.getName());
    /**
     * virtiofsd is spawned from a thread that holds javakata's seccomp filter (io.javakata.sys.Seccomp: setuid/setgid
     * modes and device nodes refused, which no capability drop can refuse to a root daemon that owns what it writes;
     * docs/security.md), so it holds the filter from its first instruction. Made on first use: only a pod's shim
     * starts virtiofsd.
     */
    private static final class VirtiofsdSpawner {
        static final HostSpawner.Confined CONFINED = new HostSpawner.Confined("javakata-spawner-virtiofsd",
                io.javakata.sys.Seccomp::installNoPrivilegedFiles);
    }

    private static final Duration STOP_GRACE = Duration.ofSeconds(2);
    /** What InitGuest sends the guest's RNG: 512 bits from the host's. */
    static final int GUEST_ENTROPY_BYTES = 64;
    private static final java.security.SecureRandom ENTROPY = new java.security.SecureRandom();
    /** How long a clone's hot-plugged virtio-fs device may take to appear in the guest. */
    private static final Duration SHARE_DEVICE_WAIT = Duration.ofSeconds(10);
    /**
     * How long the first Check waits before it is sent again (checkAgent); each later one waits twice as long as the
     * one before, up to {@link #CHECK_MAX_ATTEMPT}. A guest restored from a template answers its first Check within a
     * second on this project's TCG host when nothing else runs, and a lost request (one clone in 13, side by side in
     * docs/benchmarks.md, "A clone's QEMU without a copy of the kernel, and a lost first Check") then costs 2 s
     * instead of a whole 20 s attempt; a cold boot or a loaded host simply gets a few Checks, which its agent answers
     * in turn (the later answers are dropped).
     */
    static final Duration CHECK_FIRST_ATTEMPT = Duration.ofSeconds(2);
    /** The longest one Check waits before it is sent again. */
    static final Duration CHECK_MAX_ATTEMPT = Duration.ofSeconds(20);
    /** No Check is sent with less time than this left. */
    static final Duration MIN_CHECK_ATTEMPT = Duration.ofMillis(500);
    /** How much sooner than its wait a Check may end and still count as unanswered (timer granularity). */
    private static final Duration CHECK_SLACK = Duration.ofMillis(50);
    private static final int CONSOLE_TAIL_BYTES = 1500;
    private static final int DEAD_CONSOLE_TAIL_BYTES = 600;
    /** What precedes the VM console's tail in a boot error. */
    static final String CONSOLE_TAIL_HEADING = "VM console ends with:";

    /** The pod's id: a spare VM's until a pod takes it ({@link #adopt}). */
    private volatile String id;
    /** Where the state directory is: a spare VM's moves when a pod takes it; the cleanup follows it. */
    private final java.util.concurrent.atomic.AtomicReference<SandboxPaths> paths;
    /** What the VM was made for: a spare VM is taken only by a pod of the same configuration and size. */
    private final RuntimeConfig config;
    private final SandboxSizing sizing;
    private final Hypervisor hypervisor;
    private final Agent agent;
    /** The pod's network (taps, tc mirrors) and its port forwarding; null when created without a spec. */
    private PodNetwork network;
    private PortForwarder portForwarder;
    /** The pod's boot phases; set once by create. */
    private BootTimeline timeline;
    /** The sandbox spec's hostname, given to the guest with the network. */
    private String hostname = "";
    /** Undoes the pod's resources, newest first ({@link PodResource}); guarded by this. */
    private final CleanupStack resources;
    private final Journal journal;
    /** Why the pod was declared dead ({@link #declareDead}), null while it lives. */
    private volatile String deadReason;
    private boolean stopped;
    /** The host cgroup the VM's processes run in, null if none. */
    private HostCgroup cgroup;
    /** The pod's sandbox (pause) container and its guest pid, once created; guarded by this. */
    private String podContainerId;
    private int podContainerPid;

    private Sandbox(String id, java.util.concurrent.atomic.AtomicReference<SandboxPaths> paths, RuntimeConfig config,
                    SandboxSizing sizing, Hypervisor hypervisor, Agent agent, CleanupStack resources, Journal journal) {
        this.id = id;
        this.paths = paths;
        this.config = config;
        this.sizing = sizing;
        this.hypervisor = hypervisor;
        this.agent = agent;
        this.resources = resources;
        this.journal = journal;
    }

    /**
     * Prepares the state directory and the shared mount, boots the VM, connects to the agent and
     * checks it, and records sandbox.json. On failure everything done so far is undone and the error
     * says "create sandbox &lt;id&gt;: …", with the VM console's tail if the agent never answered.
     */
    public static Sandbox create(ShimContext ctx, String sandboxId, VmLauncher launcher) {
        return create(ctx, sandboxId, launcher, Map.of());
    }

    /**
     * As {@link #create(ShimContext, String, VmLauncher)}, sizing the VM from the sandbox spec's
     * annotations ({@link SandboxSizing}); a bad sizing override fails before anything is made.
     */
    public static Sandbox create(ShimContext ctx, String sandboxId, VmLauncher launcher,
                                 Map<String, String> annotations) {
        return create(ctx, sandboxId, launcher, annotations, null);
    }

    /**
     * As {@link #create(ShimContext, String, VmLauncher, Map)} for the sandbox task's OCI spec: its
     * annotations size the VM, and its network namespace is connected to the VM
     * ({@link io.javakata.shim.network.PodNetwork}).
     */
    public static Sandbox create(ShimContext ctx, String sandboxId, VmLauncher launcher, ObjectNode spec) {
        return create(ctx, sandboxId, launcher, io.javakata.shim.container.GuestSpec.annotations(spec), spec);
    }

    private static Sandbox create(ShimContext ctx, String sandboxId, VmLauncher launcher,
                                  Map<String, String> annotations, ObjectNode spec) {
        SandboxSizing sizing;
        try {
            sizing = SandboxSizing.of(ctx.config().hypervisor(), annotations, SandboxSizing.Host.current());
        } catch (RuntimeStatusException e) {
            throw e.withContext("create sandbox " + sandboxId);
        }
        SandboxPaths paths = SandboxPaths.of(ctx.config().runtime().stateDir(), ctx.namespace(), sandboxId);
        Optional<Sandbox> spare = SpareVms.take();
        if (spare.isPresent()) {
            // Checked before the spare is touched: a rename replaces an empty directory instead of failing.
            if (Files.exists(paths.dir())) {
                spare.get().stop();
                throw Errors.alreadyExists("create sandbox %s: state directory %s already exists", sandboxId,
                        paths.dir());
            }
            Optional<Sandbox> adopted = spare.get().adopt(ctx, sandboxId, paths, launcher, annotations, spec, sizing);
            if (adopted.isPresent()) {
                return adopted.get();
            }
        }
        return create(ctx, sandboxId, paths, launcher, annotations, spec, sizing, false);
    }

    /**
     * A spare VM (docs/architecture.md, "Warm spare VMs"): a pod's VM without a pod, in {@code paths} (under the state
     * dir's spares/), restored from the configuration's VM template for the configured vCPUs and memory, its guest
     * initialised and then rehearsed (the agent runs a container of its own, so that this QEMU has translated the
     * guest's container paths), waiting for a pod to take it ({@link #adopt}). Fails, having undone everything, when
     * this configuration's pods would not start from a template.
     */
    static Sandbox createSpare(ShimContext ctx, String spareId, SandboxPaths paths, VmLauncher launcher) {
        SandboxSizing sizing = SandboxSizing.of(ctx.config().hypervisor(), Map.of(), SandboxSizing.Host.current());
        Sandbox spare = create(ctx, spareId, paths, launcher, Map.of(), null, sizing, true);
        try {
            spare.agent.warmUpInitGuest(freshEntropy(), Instant.now(), ctx.config().hypervisor().bootTimeout());
        } catch (RuntimeException e) {
            spare.stop();
            throw e;
        }
        return spare;
    }

    private static Sandbox create(ShimContext ctx, String sandboxId, SandboxPaths paths, VmLauncher launcher,
                                  Map<String, String> annotations, ObjectNode spec, SandboxSizing sizing,
                                  boolean spare) {
        // One stack undoes the pod's resources (PodResource, in the order made): on a failure here, and in stop().
        CleanupStack undo = new CleanupStack();
        var where = new java.util.concurrent.atomic.AtomicReference<>(paths);
        Instant started = Instant.now();
        BootWatch watch = null;
        boolean answered = false;
        try {
            if (Files.exists(paths.dir())) {
                throw Errors.alreadyExists("state directory %s already exists", paths.dir());
            }
            Files.createDirectories(paths.dir());
            // The journal comes before any mount, tap, cgroup or process, and names each before it is made:
            // a shim killed from here on leaves a sandbox.json from which containerd's `delete` removes it all.
            Journal journal = Journal.start(ctx, sandboxId, paths);
            undo.push("remove the state directory", () -> new PodResource.StateDir().cleanUp(where.get()));
            BootTimeline timeline = BootTimeline.start(BootTimeline.Identity.of(sandboxId, ctx.namespace(),
                    annotations), paths, ctx.config().hypervisor().bootTimeout());
            undo.push("stop the boot timeline", timeline::close);
            Files.createDirectory(paths.mounts());
            Files.createDirectory(paths.shared());
            Mounter.makeShare(paths.mounts(), paths.shared());

            RuntimeConfig config = ctx.config();
            PodNetwork network = setUpNetwork(spec, launcher, journal, undo);
            // A spare VM has a host cgroup of its own, which binds QEMU once it switched to run_as (and lost its
            // parent-death signal) until a pod takes it or a sweep cleans it up.
            Optional<String> cgroupPath = spare ? Optional.of(SpareVms.cgroupPath(paths)) : HostCgroup.pathOf(spec);
            HostCgroup cgroup = null;
            if (cgroupPath.isPresent()) {
                journal.record(new PodResource.Cgroup(cgroupPath.get()));
                cgroup = HostCgroup.create(HostCgroup.ROOT, cgroupPath.get());
                undo.push("remove host cgroup " + cgroup.path(), cgroup::killAndRemove);
            }
            VmSpec vm = vmSpec(config, sandboxId, paths, sizing).withAgentImage(agentImage(config));
            vm = network == null ? vm : network.applyTo(vm);
            vm = cgroup == null ? vm : vm.withHostCgroup(cgroup.dirs());
            journal.record(new PodResource.Vm(List.of()));
            Hypervisor hypervisor = spare ? VmTemplates.clone(config, launcher, sandboxId, vm, journal::launched)
                    : VmTemplates.hypervisor(config, launcher, sandboxId, vm, journal::launched);
            // The boot timeout bounds this pod's own boot or restore, not the build of a template before it.
            Instant booting = Instant.now();
            undo.push("stop VM", () -> {
                hypervisor.stop(STOP_GRACE);
                hypervisor.close();
            });
            hypervisor.start(process -> {
                journal.launched(process);
                timeline.launched(process);
            });
            LOG.log(System.Logger.Level.INFO, "sandbox {0}: VMM pid {1} runs on {2} ({3}) with {4} vCPUs and {5} MiB",
                    sandboxId, String.valueOf(hypervisor.pid()), hypervisor.accelerator().accelerator(),
                    hypervisor.accelerator().reason(), String.valueOf(sizing.vcpus()),
                    String.valueOf(sizing.memoryMiB()));

            Duration bootTimeout = config.hypervisor().bootTimeout();
            watch = new BootWatch(hypervisor);
            undo.push("end the boot watch", watch::close);
            Connection connection = watch.dial(launcher.dialer(), hypervisor.agentEndpoint(),
                    remaining(booting, bootTimeout));
            Agent agent = new TtrpcAgent(new TtrpcClient(connection), config.agent().requestTimeout());
            undo.push("close agent connection", agent::close);
            watch.closeOnEnd(agent);
            Agent.Info check = checkAgent(agent::awaitBoot, sandboxId, remaining(booting, bootTimeout),
                    CHECK_FIRST_ATTEMPT, CHECK_MAX_ATTEMPT);
            answered = true;
            timeline.agentAnswered();
            initGuest(agent);
            timeline.agentReady();
            LOG.log(System.Logger.Level.INFO, "sandbox {0}: agent {1} answered after {2} ms, guest kernel {3}",
                    sandboxId, check.version(), String.valueOf(Duration.between(started, Instant.now()).toMillis()),
                    check.kernelRelease());

            Sandbox sandbox = new Sandbox(sandboxId, where, config, sizing, hypervisor, agent, undo, journal);
            sandbox.cgroup = cgroup;
            sandbox.network = network;
            sandbox.timeline = timeline;
            sandbox.hostname = spec == null ? "" : spec.path("hostname").asText("");
            watch.close();
            PodWatchdog watchdog = PodWatchdog.start(sandboxId, hypervisor, agent, sandbox::declareDead);
            undo.push("stop watching the pod", watchdog::close);
            return sandbox;
        } catch (IOException | RuntimeException e) {
            // Worded before the unwind, which stops the VM and removes its console: whether the VM had ended on its
            // own while it booted, and the console's tail.
            Optional<String> ended = watch == null ? Optional.empty() : watch.settledReason();
            io.javakata.ttrpc.Code code = e instanceof RuntimeStatusException status ? status.code()
                    : io.javakata.ttrpc.Code.UNKNOWN;
            String message = bootFailure(sandboxId, ended, e instanceof RuntimeStatusException ? e.getMessage()
                    : Errors.describe(e), watch != null && !answered, paths.consoleLog());
            undo.unwind();
            throw new RuntimeStatusException(code, message, e);
        }
    }

    /**
     * The pod's network for {@code spec} (none without a spec): its netns journaled first, then its taps and mirrors
     * made, their removal pushed on {@code undo}.
     */
    private static PodNetwork setUpNetwork(ObjectNode spec, VmLauncher launcher, Journal journal, CleanupStack undo)
            throws IOException {
        if (spec == null) {
            return null;
        }
        Optional<Path> netns = PodNetwork.netnsOf(spec);
        if (netns.isPresent()) {
            journal.record(new PodResource.Network(netns.get().toString()));
        }
        PodNetwork network = launcher.networks().setUp(spec);
        if (network != null) {
            undo.push("remove pod network", network::close);
        }
        return network;
    }

    /**
     * A failed create's error: "create sandbox &lt;id&gt;: " and the step's failure. When the VM had ended on its own
     * while it booted (a kernel panic, a killed VMM, a dead virtiofsd: {@code ended}), that goes first, so that a step
     * which then failed for want of an answer is not taken for the cause. The VM console's tail goes last when the VM
     * ended or its agent never answered ({@code agentSilent}: the dial or the first Check failed): how far the guest
     * got is then the only clue. It goes last because it is long, and the cause must stay readable on one line.
     */
    static String bootFailure(String sandboxId, Optional<String> ended, String failure, boolean agentSilent,
                              Path consoleLog) {
        String message = "create sandbox " + sandboxId + ": " + VmEnd.whileBooting(ended, failure);
        String tail = ended.isPresent() || agentSilent ? consoleTail(consoleLog) : "";
        return tail.isEmpty() ? message : message + "; " + CONSOLE_TAIL_HEADING + "\n" + tail;
    }

    /**
     * When the pod has a netns: moves the guest NICs into the network namespace of the sandbox
     * container (guest pid {@code guestPid}, created but not started), configures them and the
     * hostname there, and starts port forwarding into it. Guarded by this.
     */
    private void connectGuestNetwork(int guestPid) {
        if (network == null || network.netns().isEmpty() || portForwarder != null) {
            return;
        }
        try {
            agent.configureNetwork(network.guestNetwork(hostname).withNetnsPid(guestPid));
        } catch (RuntimeStatusException e) {
            throw e.withContext("configure the guest network in the netns of guest pid " + guestPid);
        }
        try {
            journal.record(new PodResource.PortForwarding());
        } catch (IOException e) {
            throw Errors.unknown(e, "sandbox %s: journal port forwarding", id);
        }
        PortForwarder forwarder = PortForwarder.start(network.netns().get(), agent);
        portForwarder = forwarder;
        resources.push("stop port forwarding", forwarder::close);
    }

    public String id() {
        return id;
    }

    public SandboxPaths paths() {
        return paths.get();
    }

    public Agent agent() {
        return agent;
    }

    public BootTimeline timeline() {
        return timeline;
    }

    /** The VM's host processes (the VMM first), for the pod's metrics. */
    public List<Hypervisor.OwnedProcess> hostProcesses() {
        return hypervisor.processes();
    }

    /** Runs {@code step} when the pod stops, before the resources made so far are undone; at once if stopped. */
    public void onStop(String what, CleanupStack.Step step) {
        synchronized (this) {
            if (!stopped) {
                resources.push(what, step);
                return;
            }
        }
        CleanupStack stack = new CleanupStack();
        stack.push(what, step);
        stack.unwind();
    }

    /**
     * Refuses work on a pod whose VM is gone: FAILED_PRECONDITION naming the sandbox and how the VM
     * ended, at once, rather than a request that waits for an agent that will never answer.
     */
    public void ensureRunning() {
        synchronized (this) {
            if (stopped) {
                throw Errors.failedPrecondition("sandbox %s is stopped", id);
            }
        }
        String dead = deadReason;
        if (dead != null) {
            throw Errors.failedPrecondition("sandbox %s is dead: %s; recreate the pod", id, dead);
        }
        if (hypervisor.onExit().isDone()) {
            Integer code = hypervisor.onExit().exceptionally(e -> null).getNow(null);
            throw Errors.failedPrecondition("sandbox %s: %s; recreate the pod", id,
                    VmEnd.vmmExited(hypervisor.pid(), code));
        }
        if (agent.isClosed()) {
            throw Errors.failedPrecondition("sandbox %s: the connection to its agent is closed; recreate the pod", id);
        }
    }

    /**
     * Declares the pod dead because {@code reason} (its VMM or virtiofsd exited, its agent stopped
     * answering): logs why with the console's last lines, closes the agent connection, which ends
     * every call in flight (so each container's wait reports the exit status 255, "lost", and its
     * TaskExit goes out), and kills the VM. The pod's other resources stay until {@link #stop()}, which
     * CRI's StopPodSandbox or the shim's end runs as usual. Idempotent; a no-op once stopped.
     */
    public void declareDead(String reason) {
        synchronized (this) {
            if (stopped || deadReason != null) {
                return;
            }
            deadReason = reason;
        }
        LOG.log(System.Logger.Level.WARNING, "sandbox {0} is dead: {1}; its containers are reported exited (status "
                + "255) and its VM is stopped. VM console ends with:\n{2}", id, reason,
                ConsoleRing.tail(paths().consoleLog(), DEAD_CONSOLE_TAIL_BYTES));
        agent.close();
        hypervisor.stop(Duration.ZERO);
    }

    /**
     * This spare VM ({@link #createSpare}) made pod {@code sandboxId}'s: its journal names the pod, its state directory
     * is renamed to the pod's {@code to} (its mounts, sockets and open files go with it: one filesystem), QEMU, virtiofsd
     * and their processes join the pod's host cgroup, the pod's NIC is handed to the running guest, and the guest gets
     * fresh entropy and the host's clock (InitGuest). Empty, with the spare stopped and the reason logged, when the
     * spare does not fit the pod (another configuration or size, a dead VM) or a step fails: the pod then starts as
     * it would have without it. A shim killed on the way leaves a journal that names every resource, wherever the
     * directory is (the spare's sweep or containerd's `delete` cleans it up).
     */
    private Optional<Sandbox> adopt(ShimContext ctx, String sandboxId, SandboxPaths to, VmLauncher launcher,
                                    Map<String, String> annotations, ObjectNode spec, SandboxSizing podSizing) {
        String spareId = id;
        String unfit = !config.equals(ctx.config()) ? "it was made for another configuration"
                : !sizing.equals(podSizing) ? "it has " + sizing.vcpus() + " vCPUs and " + sizing.memoryMiB()
                + " MiB, the pod asks for " + podSizing.vcpus() + " and " + podSizing.memoryMiB()
                : isDead() || hypervisor.onExit().isDone() || agent.isClosed() ? "its VM is gone"
                : !hypervisor.adoptable() ? "its VM was not restored from a template" : null;
        if (unfit != null) {
            LOG.log(System.Logger.Level.INFO, "sandbox {0}: spare VM {1} not taken: {2}", sandboxId, spareId, unfit);
            stop();
            return Optional.empty();
        }
        Instant started = Instant.now();
        try {
            synchronized (this) {
                if (stopped) {
                    throw new IOException("it was stopped");
                }
                SandboxPaths from = paths.get();
                journal.retarget(ctx.namespace(), sandboxId, to);
                Files.createDirectories(to.dir().getParent());
                Files.move(from.dir(), to.dir(), java.nio.file.StandardCopyOption.ATOMIC_MOVE);
                paths.set(to);
                journal.moved(to);
                hypervisor.relocate(to.dir());
                id = sandboxId;
            }
            timeline.close();
            BootTimeline podTimeline = BootTimeline.start(BootTimeline.Identity.of(sandboxId, ctx.namespace(),
                    annotations), to, config.hypervisor().bootTimeout());
            timeline = podTimeline;
            resources.push("stop the boot timeline", podTimeline::close);
            PodNetwork podNetwork = setUpNetwork(spec, launcher, journal, resources);
            Optional<String> cgroupPath = HostCgroup.pathOf(spec);
            if (cgroupPath.isPresent() && cgroup != null) {
                // Both in the journal before anything moves: a shim killed midway leaves neither behind.
                journal.record(new PodResource.SpareCgroup(cgroup.path()));
                journal.record(new PodResource.Cgroup(cgroupPath.get()));
                HostCgroup podCgroup = HostCgroup.create(HostCgroup.ROOT, cgroupPath.get());
                resources.push("remove host cgroup " + podCgroup.path(), podCgroup::killAndRemove);
                cgroup.moveProcessesTo(podCgroup);
                cgroup.remove();
                cgroup = podCgroup;
            }
            if (podNetwork != null) {
                VmSpec nics = podNetwork.applyTo(vmSpec(config, sandboxId, to, sizing));
                if (!nics.nics().isEmpty()) {
                    hypervisor.plugNics(nics.nics(), nics.netns());
                }
            }
            // Undone first: the VM stops before the pod's cgroup and network made here go (as for a pod's own VM).
            resources.push("stop VM", () -> hypervisor.stop(STOP_GRACE));
            podTimeline.agentAnswered();
            initGuest(agent);
            podTimeline.agentReady();
            synchronized (this) {
                network = podNetwork;
                hostname = spec == null ? "" : spec.path("hostname").asText("");
            }
            LOG.log(System.Logger.Level.INFO, "sandbox {0}: took spare VM {1} (VMM pid {2}) in {3} ms", sandboxId,
                    spareId, String.valueOf(hypervisor.pid()),
                    String.valueOf(Duration.between(started, Instant.now()).toMillis()));
            return Optional.of(this);
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "sandbox {0}: spare VM {1} not taken: {2}", sandboxId, spareId,
                    e instanceof RuntimeStatusException ? e.getMessage() : Errors.describe(e));
            stop();
            return Optional.empty();
        }
    }

    /** Whether the pod was declared dead ({@link #declareDead}). */
    public boolean isDead() {
        return deadReason != null;
    }

    /**
     * Records a container the agent created; the pod's sandbox container (CRI container type
     * {@code sandbox}) is remembered, because the pod's other containers join its namespaces and
     * its /dev/shm in the guest. The pod's network is configured in that container's network
     * namespace here (before it starts, as CNI does for runc); the sandbox task without a CRI type
     * (its id is the sandbox's) gets it as well.
     *
     * @param containerType the spec's {@code io.kubernetes.cri.container-type} annotation, "" if none
     * @param guestPid      the container's init pid in the guest
     */
    public synchronized void containerCreated(String containerId, String containerType, int guestPid) {
        if ("sandbox".equals(containerType) || containerId.equals(id)) {
            connectGuestNetwork(guestPid);
        }
        if ("sandbox".equals(containerType)) {
            podContainerId = containerId;
            podContainerPid = guestPid;
        }
    }

    /** Forgets a deleted container. */
    public synchronized void containerRemoved(String containerId) {
        if (containerId.equals(podContainerId)) {
            podContainerId = null;
            podContainerPid = 0;
        }
    }

    /** The guest pid of the pod's sandbox container, while it exists. */
    public synchronized OptionalInt podContainerPid() {
        return podContainerId == null ? OptionalInt.empty() : OptionalInt.of(podContainerPid);
    }

    /** The VMM's pid: the pid javakata reports for every task (Kata's convention). */
    public long pid() {
        return hypervisor.pid();
    }

    /**
     * Undoes the pod's resources newest first: port forwarding, the agent connection, the VM (graceful,
     * then killed after a grace period), the host cgroup (whatever is left in it killed), the network,
     * the share and the state directory. Idempotent; failures are logged, not thrown, because the
     * caller is itself cleaning up.
     */
    public synchronized void stop() {
        if (stopped) {
            return;
        }
        stopped = true;
        resources.unwind();
        LOG.log(System.Logger.Level.INFO, "sandbox {0}: stopped", id);
    }

    /** The configured agent image, with its size; an error names the key when it cannot be read. */
    static VmSpec.AgentImage agentImage(RuntimeConfig config) throws IOException {
        Path file = config.hypervisor().agentImage();
        try {
            return VmSpec.AgentImage.of(file);
        } catch (NoSuchFileException e) {
            throw new IOException("[hypervisor] agent_image " + file + ": no such file (make install puts it there)");
        } catch (IOException | IllegalArgumentException e) {
            throw new IOException("[hypervisor] agent_image " + file + ": " + e.getMessage(), e);
        }
    }

    static VmSpec vmSpec(RuntimeConfig config, String sandboxId, SandboxPaths paths, SandboxSizing sizing) {
        RuntimeConfig.Hypervisor hv = config.hypervisor();
        RuntimeConfig.Virtiofsd fs = config.virtiofsd();
        return new VmSpec(sandboxId, paths.dir(), hv.path(), hv.kernel(), hv.initrd(), hv.guestKernelParams(),
                sizing.vcpus(), sizing.memoryMiB(), hv.accel(), RuntimeConfig.tomlName(hv.machine()),
                new VmSpec.SharedFs(SHARED_FS_TAG, paths.shared(), fs.path(), RuntimeConfig.tomlName(fs.cache()),
                        VirtiofsdSpawner.CONFINED),
                config.agent().channel(), hv.bootTimeout()).withHostLimits(hv.runAs(), hv.consoleLogMaxKiB() * 1024L)
                .withDebugConsole(config.agent().debugConsole())
                .withVsockBackend(config.agent().vhostDeviceVsock());
    }

    /**
     * InitGuest for every pod: host entropy, the host's clock, and the share mounted (a clone's virtio-fs device was
     * hot-plugged just before it resumed). Then once more with the clock and fresh entropy only: the first call runs
     * code the guest has not yet run since its restore, which under TCG is translated anew, and it took seconds
     * between the host reading its clock and the guest setting it (TemplateIT saw a clone 3 s behind the host); the
     * second runs warm and sets the clock to within its round trip.
     */
    private static void initGuest(Agent agent) {
        try {
            agent.initGuest(freshEntropy(), Instant.now(), SHARED_FS_TAG, SHARE_DEVICE_WAIT);
            agent.initGuest(freshEntropy(), Instant.now(), "", Duration.ZERO);
        } catch (RuntimeStatusException e) {
            throw e.withContext("initialise the guest (entropy, clock, share)");
        }
    }

    static byte[] freshEntropy() {
        byte[] entropy = new byte[GUEST_ENTROPY_BYTES];
        ENTROPY.nextBytes(entropy);
        return entropy;
    }

    /**
     * The agent's first answer to Check, within {@code timeout}. A Check that gets no answer within its attempt is
     * sent again on the same connection (the late answer of the first, if any, is dropped); the first attempt is
     * {@code firstAttempt}, each later one twice the one before, up to {@code maxAttempt}: a request can be lost on
     * a virtio-serial port the host connects to while the guest reopens it (DeviceConnection), and once in a CI run a
     * clone restored from a VM template never answered its only Check although its kernel ran on. Any other failure
     * (the connection closed: the VM died) ends the wait at once.
     */
    static Agent.Info checkAgent(java.util.function.Function<Duration, Agent.Info> check, String sandboxId,
                                 Duration timeout, Duration firstAttempt, Duration maxAttempt) {
        Instant started = Instant.now();
        int sent = 0;
        Duration attempt = firstAttempt.compareTo(maxAttempt) < 0 ? firstAttempt : maxAttempt;
        while (true) {
            Duration left = remaining(started, timeout);
            Duration wait = left.compareTo(attempt) > 0 ? attempt : left;
            Instant sending = Instant.now();
            sent++;
            try {
                return check.apply(wait);
            } catch (RuntimeStatusException e) {
                // Sent again only after a Check that went unanswered for its whole wait: an agent that answers
                // DEADLINE_EXCEEDED at once is not asked again and again.
                boolean unanswered = Duration.between(sending, Instant.now()).compareTo(wait.minus(CHECK_SLACK)) >= 0;
                if (e.code() == io.javakata.ttrpc.Code.DEADLINE_EXCEEDED && unanswered
                        && remaining(started, timeout).compareTo(MIN_CHECK_ATTEMPT) > 0) {
                    LOG.log(System.Logger.Level.INFO, "sandbox {0}: no answer to Check {1} after {2} ms; sending "
                            + "it again", sandboxId, String.valueOf(sent),
                            String.valueOf(Duration.between(started, Instant.now()).toMillis()));
                    Duration doubled = attempt.multipliedBy(2);
                    attempt = doubled.compareTo(maxAttempt) < 0 ? doubled : maxAttempt;
                    continue;
                }
                throw new RuntimeStatusException(e.code(), "agent did not answer Check within "
                        + timeout.toSeconds() + " s (" + sent + " sent): " + e.getMessage(), e);
            }
        }
    }

    /** The console's last bytes, across both files of its ring (console.log.1 then console.log). */
    static String consoleTail(Path log) {
        return ConsoleRing.tail(log, CONSOLE_TAIL_BYTES);
    }

    private static Duration remaining(Instant started, Duration total) {
        Duration left = total.minus(Duration.between(started, Instant.now()));
        return left.isNegative() || left.isZero() ? Duration.ofMillis(1) : left;
    }

    /**
     * Unmounts everything left under mounts/ (container rootfs, volume binds; their copies under shared/
     * go with them), deepest first, then mounts/ and shared/ themselves.
     */
    static void unmountShared(SandboxPaths paths) throws IOException {
        Mounter.unmountUnder(paths.mounts());
        Mounter.unmountUnder(paths.shared());
    }
}
