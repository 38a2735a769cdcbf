package io.javakata.guest.container;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import io.javakata.guest.cgroup.Cgroup;
import io.javakata.guest.reaper.ExitStatus;
import io.javakata.guest.reaper.Reaper;
import io.javakata.guest.stdio.ContainerStdio;
import io.javakata.sys.ErrnoException;
import io.javakata.sys.FdPassing;
import io.javakata.sys.Signals;
import io.javakata.ttrpc.Errors;
import io.javakata.ttrpc.RuntimeStatusException;

/**
 * The containers of this guest, created and driven through runc.
 *
 * <p>Every method is blocking and thread-safe; failures are {@link RuntimeStatusException}s whose
 * message names the container and the step. A failed create removes what it made (runc state, FIFOs,
 * bundle directory).
 */
public final class ContainerManager {

    private static final System.Logger LOG = System.getLogger(ContainerManager.class.getName());
    private static final Pattern ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,127}");
    private static final int ESRCH = 3;
    /** How long runc may take to hand over a pty master after it returned (it sends before returning). */
    private static final Duration CONSOLE_WAIT = Duration.ofSeconds(10);

    private final Path bundles;
    private final Runc runc;
    private final Reaper reaper;
    private final Path proc;
    private final Path cgroupMount;
    private final Path consoles;
    private final AtomicLong consoleCounter = new AtomicLong();
    private final ConcurrentMap<String, Container> containers = new ConcurrentHashMap<>();
    private final ConcurrentMap<String, Boolean> creating = new ConcurrentHashMap<>();

    /**
     * @param bundles the directory holding one bundle directory per container
     *                ({@code /run/javakata/bundles})
     */
    public ContainerManager(Path bundles, Runc runc, Reaper reaper) {
        this(bundles, runc, reaper, Path.of("/proc"), Path.of("/sys/fs/cgroup"));
    }

    /**
     * @param proc        {@code /proc}, where a container's cgroup is looked up by its init pid
     * @param cgroupMount the cgroup2 mount ({@code /sys/fs/cgroup})
     */
    public ContainerManager(Path bundles, Runc runc, Reaper reaper, Path proc, Path cgroupMount) {
        this.bundles = bundles;
        this.runc = runc;
        this.reaper = reaper;
        this.proc = proc;
        this.cgroupMount = cgroupMount;
        // Console sockets get short names of their own: a bundle path with 64-character container and
        // exec ids (CRI's) would overflow sun_path's 108 bytes.
        this.consoles = bundles.resolveSibling("tty");
    }

    /** What the host asked for in CreateContainer. */
    public record CreateRequest(String id, byte[] ociSpec, boolean terminal, boolean stdin, boolean stdout,
                                boolean stderr) {
        public CreateRequest(String id, byte[] ociSpec, boolean stdin, boolean stdout, boolean stderr) {
            this(id, ociSpec, false, stdin, stdout, stderr);
        }
    }

    /** What the host asked for in ExecProcess: {@code process} is an OCI Process as JSON. */
    public record ExecRequest(String containerId, String execId, byte[] process, boolean terminal, boolean stdin,
                              boolean stdout, boolean stderr) {
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
        ContainerStdio stdio = request.terminal()
                ? ContainerStdio.terminal(id, bundle, request.stdin(), request.stdout())
                : new ContainerStdio(id, bundle, request.stdin(), request.stdout(), request.stderr());
        boolean runcCreated = false;
        FdPassing.Listener console = null;
        try {
            Files.createDirectories(bundle);
            Files.write(bundle.resolve("config.json"), request.ociSpec());
            stdio.prepare();
            console = request.terminal() ? listenConsole() : null;
            Path pidFile = bundle.resolve("init.pid");
            runcCreated = true;
            runc.create(id, bundle, pidFile, stdio, console == null ? null : console.path());
            if (console != null) {
                stdio.attachTerminal(console.acceptFd(CONSOLE_WAIT));
            }
            int pid = Integer.parseInt(Files.readString(pidFile, StandardCharsets.US_ASCII).strip());
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
            cleanUp(id, bundle, stdio, runcCreated);
            throw Errors.unknown("create container %s: %s", id, e.getMessage());
        } finally {
            if (console != null) {
                console.close();
            }
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

    private FdPassing.Listener listenConsole() throws IOException {
        Files.createDirectories(consoles);
        return FdPassing.listen(consoles.resolve(consoleCounter.incrementAndGet() + ".sock"));
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
        if (container.state() == Container.State.EXITED) {
            throw Errors.failedPrecondition("exec %s in container %s: the container has exited", execId,
                    container.id());
        }
        Path dir = container.bundle().resolve("execs").resolve(execId);
        String name = container.id() + "/" + execId;
        ContainerStdio stdio = request.terminal()
                ? ContainerStdio.terminal(name, dir, request.stdin(), request.stdout())
                : new ContainerStdio(name, dir, request.stdin(), request.stdout(), request.stderr());
        ExecProcess exec = new ExecProcess(container.id(), execId, dir, request.terminal(), stdio);
        container.addExec(exec);
        try {
            Files.createDirectories(dir);
            Files.write(dir.resolve("process.json"), request.process());
        } catch (IOException e) {
            container.removeExec(exec);
            deleteTree(dir);
            throw Errors.unknown("exec %s in container %s: %s", execId, container.id(), e.getMessage());
        }
        return exec;
    }

    /** Runs a registered exec with {@code runc exec --detach}; returns once it runs. */
    public ExecProcess startExec(String containerId, String execId) {
        Container container = get(containerId);
        ExecProcess exec = container.exec(execId);
        exec.markStarting(container.cgroup() == null ? 0 : container.cgroup().oomKills());
        FdPassing.Listener console = null;
        try {
            exec.stdio().prepare();
            console = exec.terminal() ? listenConsole() : null;
            Path pidFile = exec.dir().resolve("exec.pid");
            runc.exec(containerId, container.bundle(), exec.dir().resolve("process.json"), pidFile, exec.stdio(),
                    console == null ? null : console.path());
            int pid = Integer.parseInt(Files.readString(pidFile, StandardCharsets.US_ASCII).strip());
            exec.started(pid);
            // runc has exited, so the exec's process is our child now (or already a reaped orphan,
            // which track() answers from the reaper's memory).
            reaper.track(pid).thenAccept(exec.exit()::complete);
            if (console != null) {
                exec.stdio().attachTerminal(console.acceptFd(CONSOLE_WAIT));
            }
            LOG.log(Level.INFO, "msg=\"exec started\" container={0} exec={1} pid={2}", containerId, execId, pid);
            return exec;
        } catch (IOException | RuntimeException e) {
            exec.stdio().close();
            exec.exit().complete(new ExitStatus(ExecProcess.START_FAILED_STATUS, java.time.Instant.now()));
            throw Errors.unknown("start exec %s in container %s: %s", execId, containerId, e.getMessage());
        } finally {
            if (console != null) {
                console.close();
            }
        }
    }

    /** Sends a signal to an exec's process; NOT_FOUND once it has exited. */
    public void signalExec(String containerId, String execId, int signal) {
        ExecProcess exec = get(containerId).exec(execId);
        if (exec.exit().isDone() || exec.pid() == 0) {
            throw Errors.notFound("signal %d to exec %s of container %s: process %s", signal, execId, containerId,
                    exec.pid() == 0 ? "not started" : "already finished");
        }
        try {
            Signals.kill(exec.pid(), signal);
        } catch (ErrnoException e) {
            if (e.errno() == ESRCH) {
                throw Errors.notFound("signal %d to exec %s of container %s: process already finished", signal,
                        execId, containerId);
            }
            throw Errors.unknown("signal %d to exec %s of container %s: %s", signal, execId, containerId,
                    e.getMessage());
        }
    }

    /** Forgets an exec that has exited or never started; FAILED_PRECONDITION while it runs. */
    public void removeExec(String containerId, String execId) {
        Container container = get(containerId);
        ExecProcess exec = container.exec(execId);
        if (exec.state() == ExecProcess.State.RUNNING) {
            throw Errors.failedPrecondition("remove exec %s of container %s: it is running", execId, containerId);
        }
        container.removeExec(exec);
        exec.stdio().close();
        deleteTree(exec.dir());
    }

    /** {@code runc pause}: freezes every process of the container. */
    public void pause(String id) {
        Container container = running(id, "pause");
        try {
            runc.pause(id, container.bundle());
        } catch (IOException e) {
            throw Errors.unknown("pause container %s: %s", id, e.getMessage());
        }
    }

    public void resume(String id) {
        Container container = running(id, "resume");
        try {
            runc.resume(id, container.bundle());
        } catch (IOException e) {
            throw Errors.unknown("resume container %s: %s", id, e.getMessage());
        }
    }

    /** {@code runc update --resources}: {@code resources} is OCI LinuxResources JSON. */
    public void update(String id, byte[] resources) {
        Container container = running(id, "update");
        if (resources.length == 0) {
            throw Errors.invalidArgument("resources of container %s: must not be empty", id);
        }
        Path file = container.bundle().resolve("resources-" + consoleCounter.incrementAndGet() + ".json");
        try {
            Files.write(file, resources);
            runc.update(id, container.bundle(), file);
        } catch (IOException e) {
            throw Errors.unknown("update container %s: %s", id, e.getMessage());
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

    private Container running(String id, String op) {
        Container container = get(id);
        if (container.state() == Container.State.EXITED) {
            throw Errors.failedPrecondition("%s container %s: it has exited", op, id);
        }
        return container;
    }

    public Container start(String id) {
        Container container = get(id);
        container.markStarted();
        try {
            runc.start(id, container.bundle());
        } catch (IOException e) {
            throw Errors.unknown("start container %s: %s", id, e.getMessage());
        }
        LOG.log(Level.INFO, "msg=\"container started\" container={0} pid={1}", id, container.initPid());
        return container;
    }

    public void signal(String id, int signal, boolean all) {
        Container container = get(id);
        if (container.exit().isDone()) {
            throw Errors.notFound("signal %d to container %s: process already finished", signal, id);
        }
        try {
            if (all) {
                runc.kill(id, container.bundle(), signal, true);
            } else {
                Signals.kill(container.initPid(), signal);
            }
        } catch (ErrnoException e) {
            if (e.errno() == ESRCH) {
                throw Errors.notFound("signal %d to container %s: process already finished", signal, id);
            }
            throw Errors.unknown("signal %d to container %s: %s", signal, id, e.getMessage());
        } catch (IOException e) {
            throw Errors.unknown("signal %d to container %s: %s", signal, id, e.getMessage());
        }
    }

    public void remove(String id) {
        Container container = get(id);
        try {
            runc.delete(id, container.bundle());
        } catch (IOException e) {
            throw Errors.unknown("remove container %s: %s", id, e.getMessage());
        }
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

    private void cleanUp(String id, Path bundle, ContainerStdio stdio, boolean runcCreated) {
        if (runcCreated) {
            try {
                runc.delete(id, bundle);
            } catch (IOException e) {
                LOG.log(Level.DEBUG, "msg=\"cleanup after failed create\" container={0} error=\"{1}\"", id,
                        e.getMessage());
            }
        }
        stdio.close();
        deleteTree(bundle);
    }

    private static void deleteTree(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            LOG.log(Level.WARNING, "msg=\"remove {0}: {1}\"", dir, e.getMessage());
        }
    }
}
