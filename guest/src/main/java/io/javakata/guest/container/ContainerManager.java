package io.javakata.guest.container;

import io.javakata.sys.Mounts;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;

import io.javakata.guest.cgroup.Cgroup;
import io.javakata.guest.reaper.ExitStatus;
import io.javakata.guest.reaper.Reaper;
import io.javakata.guest.container.ProcessLauncher.Launch;
import io.javakata.guest.container.ProcessLauncher.StdioRequest;
import io.javakata.guest.container.ProcessState.Event;
import io.javakata.guest.stdio.ContainerStdio;
import io.javakata.ttrpc.Errors;
import io.javakata.ttrpc.RuntimeStatusException;

/**
 * The containers of this guest, created and driven through the OCI runtime (crun). Each call finds the container
 * or exec (NOT_FOUND), applies its event to the process ({@link ProcessState}, which refuses what the state does
 * not allow), then asks the runtime; the init and every exec start through one {@link ProcessLauncher}.
 *
 * <p>Every method is blocking and thread-safe; failures are {@link RuntimeStatusException}s whose
 * message names the container and the step. A failed create removes what it made (runtime state, FIFOs,
 * bundle directory).
 */
public final class ContainerManager {

    private static final System.Logger LOG = System.getLogger(ContainerManager.class.getName());
    private static final Pattern ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,127}");

    private final Path bundles;
    private final OciRuntime runtime;
    private final ProcessLauncher launcher;
    private final Reaper reaper;
    private final Path proc;
    private final Path cgroupMount;
    private final AtomicLong updateCounter = new AtomicLong();
    private final ConcurrentMap<String, Container> containers = new ConcurrentHashMap<>();
    private final ConcurrentMap<String, Boolean> creating = new ConcurrentHashMap<>();

    /**
     * @param bundles the directory holding one bundle directory per container
     *                ({@code /run/javakata/bundles})
     */
    public ContainerManager(Path bundles, OciRuntime runtime, Reaper reaper) {
        this(bundles, runtime, reaper, Path.of("/proc"), Path.of("/sys/fs/cgroup"));
    }

    /**
     * @param proc        {@code /proc}, where a container's cgroup is looked up by its init pid
     * @param cgroupMount the cgroup2 mount ({@code /sys/fs/cgroup})
     */
    public ContainerManager(Path bundles, OciRuntime runtime, Reaper reaper, Path proc, Path cgroupMount) {
        this.bundles = bundles;
        this.runtime = runtime;
        this.launcher = new ProcessLauncher(runtime, bundles.resolveSibling("tty"));
        this.reaper = reaper;
        this.proc = proc;
        this.cgroupMount = cgroupMount;
    }

    /** What the host asked for in CreateContainer. */
    public record CreateRequest(String id, byte[] ociSpec, boolean terminal, boolean stdin, boolean stdout,
                                boolean stderr) {
        public CreateRequest(String id, byte[] ociSpec, boolean stdin, boolean stdout, boolean stderr) {
            this(id, ociSpec, false, stdin, stdout, stderr);
        }

        StdioRequest stdio() {
            return new StdioRequest(terminal, stdin, stdout, stderr);
        }
    }

    /** What the host asked for in ExecProcess: {@code process} is an OCI Process as JSON. */
    public record ExecRequest(String containerId, String execId, byte[] process, boolean terminal, boolean stdin,
                              boolean stdout, boolean stderr) {

        StdioRequest stdio() {
            return new StdioRequest(terminal, stdin, stdout, stderr);
        }
    }

    public Container create(CreateRequest request) {
        String id = request.id();
        if (id == null || !ID.matcher(id).matches()) {
            throw Errors.invalidArgument("container_id=\"%s\": must match %s", id, ID.pattern());
        }
        if (request.ociSpec().length == 0) {
            throw Errors.invalidArgument("oci_spec of container %s: must not be empty", id);
        }
        if (containers.containsKey(id) || creating.putIfAbsent(id, Boolean.TRUE) != null) {
            throw Errors.alreadyExists("container %s already exists", id);
        }
        try {
            Container container = createBundleAndRun(request);
            containers.put(id, container);
            return container;
        } finally {
            creating.remove(id);
        }
    }

    private Container createBundleAndRun(CreateRequest request) {
        String id = request.id();
        Path bundle = bundles.resolve(id);
        ContainerStdio stdio = launcher.stdio(id, bundle, request.stdio());
        boolean runtimeCalled = false;
        try {
            Files.createDirectories(bundle);
            Files.write(bundle.resolve("config.json"), request.ociSpec());
            runtimeCalled = true; // from here a failure may leave runtime state to delete
            int pid = launcher.launch(new Launch.Init(id, bundle), stdio);
            Cgroup cgroup = cgroupOf(id, pid);
            boolean ownPidNamespace = initOfItsPidNamespace(pid);
            CompletableFuture<ExitStatus> exit = reaper.track(pid);
            if (!ownPidNamespace) {
                exit = exit.thenApplyAsync(status -> killRemaining(id, cgroup, status),
                        task -> Thread.ofVirtual().name("kill-" + id).start(task));
            }
            Container container = new Container(id, bundle, pid, stdio, exit, cgroup);
            LOG.log(Level.INFO, "msg=\"container created\" container={0} pid={1} terminal={2} own_pid_ns={3}", id,
                    pid, request.terminal(), ownPidNamespace);
            return container;
        } catch (IOException | RuntimeException e) {
            cleanUp(id, bundle, stdio, runtimeCalled);
            throw Errors.unknown(e, "create container %s", id);
        }
    }

    /**
     * Whether {@code pid} is PID 1 of a PID namespace of its own: the last field of the {@code NSpid}
     * line of /proc/PID/status is its pid in its innermost namespace (proc(5)), and only a container
     * with a new PID namespace has its init there as 1. False for a container that joined another's
     * namespace (a pod's shared one) or has none, and when the line cannot be read.
     */
    boolean initOfItsPidNamespace(int pid) {
        try {
            for (String line : Files.readAllLines(proc.resolve(Integer.toString(pid)).resolve("status"))) {
                if (line.startsWith("NSpid:")) {
                    String[] ids = line.substring("NSpid:".length()).strip().split("\\s+");
                    return ids.length > 1 && ids[ids.length - 1].equals("1");
                }
            }
        } catch (IOException e) {
            LOG.log(Level.WARNING, "msg=\"no NSpid: taken as sharing a PID namespace\" pid={0} error=\"{1}\"", pid,
                    e.getMessage());
        }
        return false;
    }

    /**
     * The init of a container without a PID namespace of its own exited: kills what is left of the
     * container, as containerd's runc shim does ({@code checkProcesses}: {@code ShouldKillAllOnExit},
     * then {@code KillAll}, before it publishes the exit). With a namespace of its own the kernel does
     * it (pid_namespaces(7): when the init of a namespace ends, every process in it gets SIGKILL).
     * Otherwise a child the init left behind (nginx's workers, {@code sleep &}) would keep the
     * container's stdout open, and with it the exit, forever.
     */
    private ExitStatus killRemaining(String id, Cgroup cgroup, ExitStatus status) {
        if (cgroup == null) {
            LOG.log(Level.WARNING, "msg=\"init exited; no cgroup to kill the rest of\" container={0}", id);
            return status;
        }
        if (!killable(cgroup)) {
            LOG.log(Level.WARNING, "msg=\"init exited; its cgroup holds the agent: not killed\" container={0}"
                    + " cgroup={1}", id, cgroup.dir());
            return status;
        }
        try {
            List<Integer> signalled = cgroup.killAll();
            LOG.log(Level.INFO, "msg=\"init exited: killed the rest of the container\" container={0} cgroup={1}"
                    + " signalled={2}", id, cgroup.dir(), signalled.isEmpty() ? "cgroup.kill" : signalled);
        } catch (IOException | RuntimeException e) {
            LOG.log(Level.WARNING, "msg=\"init exited; killing the rest failed\" container={0} error=\"{1}\"", id,
                    e.getMessage());
        }
        return status;
    }

    /**
     * A container's cgroup may be killed unless it is the cgroup root or holds the agent (itself or
     * below it): a container that runs in the agent's own cgroup (no cgroup of its own) must not take
     * the agent down with it.
     */
    private boolean killable(Cgroup cgroup) {
        Path dir = cgroup.dir().normalize();
        if (dir.equals(cgroupMount.normalize())) {
            return false;
        }
        try {
            Path agent = Cgroup.ofPid(proc, cgroupMount, (int) ProcessHandle.current().pid()).dir().normalize();
            return !agent.startsWith(dir);
        } catch (IOException e) {
            return true; // the agent is not in this /proc (a test's): it cannot be in the container's cgroup
        }
    }

    private Cgroup cgroupOf(String id, int pid) {
        try {
            return Cgroup.ofPid(proc, cgroupMount, pid);
        } catch (IOException e) {
            LOG.log(Level.WARNING, "msg=\"no cgroup: no stats or OOM reports\" container={0} error=\"{1}\"", id,
                    e.getMessage());
            return null;
        }
    }

    /**
     * Registers an exec; nothing runs until {@link #startExec}. ALREADY_EXISTS for an exec id in use,
     * FAILED_PRECONDITION once the container's init has exited (runc shim semantics).
     */
    public ExecProcess exec(ExecRequest request) {
        Container container = get(request.containerId());
        String execId = request.execId();
        if (execId == null || !ID.matcher(execId).matches()) {
            throw Errors.invalidArgument("exec_id=\"%s\": must match %s", execId, ID.pattern());
        }
        if (request.process().length == 0) {
            throw Errors.invalidArgument("process of exec %s: must not be empty", execId);
        }
        Path dir = container.bundle().resolve("execs").resolve(execId);
        ContainerStdio stdio = launcher.stdio(container.id() + "/" + execId, dir, request.stdio());
        ExecProcess exec = new ExecProcess(container.id(), execId, dir, stdio);
        container.addExec(exec);
        try {
            Files.createDirectories(dir);
            Files.write(dir.resolve("process.json"), request.process());
        } catch (IOException e) {
            container.removeExec(exec);
            deleteTree(dir);
            throw Errors.unknown(e, "exec %s in container %s", execId, container.id());
        }
        return exec;
    }

    /** Runs a registered exec with the runtime's {@code exec --detach}; returns once it runs. */
    public ExecProcess startExec(String containerId, String execId) {
        Container container = get(containerId);
        ExecProcess exec = container.exec(execId);
        exec.start(container.cgroup() == null ? 0 : container.cgroup().oomKills());
        try {
            int pid = launcher.launch(new Launch.Exec(containerId, container.bundle(), exec.dir()), exec.stdio());
            exec.started(pid);
            // The runtime has exited, so the exec's process is our child now (or already a reaped orphan,
            // which track() answers from the reaper's memory).
            exec.exitsWith(reaper.track(pid));
            LOG.log(Level.INFO, "msg=\"exec started\" container={0} exec={1} pid={2}", containerId, execId, pid);
            return exec;
        } catch (IOException | RuntimeException e) {
            exec.stdio().close();
            exec.startFailed();
            throw Errors.unknown(e, "start exec %s in container %s", execId, containerId);
        }
    }

    /** Sends a signal to an exec's process; NOT_FOUND before it started and once it has exited. */
    public void signalExec(String containerId, String execId, int signal) {
        get(containerId).exec(execId).signal(signal);
    }

    /** Forgets an exec that has exited or never started; FAILED_PRECONDITION while it may run. */
    public void removeExec(String containerId, String execId) {
        Container container = get(containerId);
        ExecProcess exec = container.exec(execId);
        exec.apply(Event.REMOVE);
        container.removeExec(exec);
        exec.stdio().close();
        deleteTree(exec.dir());
    }

    /** {@code crun pause}: freezes every process of the container. */
    public void pause(String id) {
        Container container = get(id);
        container.apply(Event.PAUSE);
        try {
            runtime.pause(id, container.bundle());
        } catch (IOException e) {
            throw Errors.unknown(e, "pause container %s", id);
        }
    }

    public void resume(String id) {
        Container container = get(id);
        container.apply(Event.RESUME);
        try {
            runtime.resume(id, container.bundle());
        } catch (IOException e) {
            throw Errors.unknown(e, "resume container %s", id);
        }
    }

    /** {@code crun update --resources}: {@code resources} is OCI LinuxResources JSON. */
    public void update(String id, byte[] resources) {
        Container container = get(id);
        container.apply(Event.UPDATE);
        if (resources.length == 0) {
            throw Errors.invalidArgument("resources of container %s: must not be empty", id);
        }
        Path file = container.bundle().resolve("resources-" + updateCounter.incrementAndGet() + ".json");
        try {
            Files.write(file, resources);
            runtime.update(id, container.bundle(), file);
        } catch (IOException e) {
            throw Errors.unknown(e, "update container %s", id);
        } finally {
            try {
                Files.deleteIfExists(file);
            } catch (IOException e) {
                LOG.log(Level.DEBUG, "msg=\"remove {0}: {1}\"", file, e.getMessage());
            }
        }
    }

    /** Every container, for the OOM watcher. */
    public Collection<Container> all() {
        return List.copyOf(containers.values());
    }

    public Container start(String id) {
        Container container = get(id);
        container.apply(Event.START);
        try {
            runtime.start(id, container.bundle());
        } catch (IOException e) {
            throw Errors.unknown(e, "start container %s", id);
        }
        LOG.log(Level.INFO, "msg=\"container started\" container={0} pid={1}", id, container.initPid());
        return container;
    }

    /** Sends a signal to a container's init, or with {@code all} to every process in it (the runtime's kill). */
    public void signal(String id, int signal, boolean all) {
        Container container = get(id);
        if (!all) {
            container.signal(signal);
            return;
        }
        String context = "signal " + signal + " to " + container.describe();
        container.apply(Event.SIGNAL, context);
        try {
            runtime.kill(id, container.bundle(), signal, true);
        } catch (IOException e) {
            throw Errors.unknown(e, context);
        }
    }

    /** RemoveContainer: the runtime deletes it (killing what still runs), then the agent forgets it. */
    public void remove(String id) {
        Container container = get(id);
        try {
            runtime.delete(id, container.bundle());
        } catch (IOException e) {
            throw Errors.unknown(e, "remove container %s", id);
        }
        // Applied once the runtime deleted it: a failed delete leaves the container as it was.
        container.apply(Event.DELETE, "remove container " + id);
        containers.remove(id);
        container.stdio().close();
        container.execs().forEach(e -> e.stdio().close());
        deleteTree(container.bundle());
        LOG.log(Level.INFO, "msg=\"container removed\" container={0}", id);
    }

    /** The container, or NOT_FOUND. */
    public Container get(String id) {
        Container container = containers.get(id);
        if (container == null) {
            throw Errors.notFound("container %s not found", id);
        }
        return container;
    }

    private void cleanUp(String id, Path bundle, ContainerStdio stdio, boolean runtimeCalled) {
        if (runtimeCalled) {
            try {
                runtime.delete(id, bundle);
            } catch (IOException e) {
                LOG.log(Level.DEBUG, "msg=\"cleanup after failed create\" container={0} error=\"{1}\"", id,
                        e.getMessage());
            }
        }
        stdio.close();
        deleteTree(bundle);
    }

    private static void deleteTree(Path dir) {
        try {
            Mounts.deleteTree(dir);
        } catch (IOException e) {
            LOG.log(Level.WARNING, "msg=\"remove {0}: {1}\"", dir, e.getMessage());
        }
    }
}
