package io.javakata.shim.task;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.Any;
import com.google.protobuf.Empty;
import com.google.protobuf.Message;
import com.google.protobuf.Parser;
import io.containerd.events.TaskCreate;
import io.containerd.events.TaskDelete;
import io.containerd.events.TaskExecAdded;
import io.containerd.events.TaskExecStarted;
import io.containerd.events.TaskExit;
import io.containerd.events.TaskIO;
import io.containerd.events.TaskOOM;
import io.containerd.events.TaskPaused;
import io.containerd.events.TaskResumed;
import io.containerd.events.TaskStart;
import io.containerd.task.v2.CheckpointTaskRequest;
import io.containerd.task.v2.CloseIORequest;
import io.containerd.task.v2.ConnectRequest;
import io.containerd.task.v2.ConnectResponse;
import io.containerd.task.v2.CreateTaskRequest;
import io.containerd.task.v2.CreateTaskResponse;
import io.containerd.task.v2.DeleteRequest;
import io.containerd.task.v2.DeleteResponse;
import io.containerd.task.v2.ExecProcessRequest;
import io.containerd.task.v2.KillRequest;
import io.containerd.task.v2.PauseRequest;
import io.containerd.task.v2.PidsRequest;
import io.containerd.task.v2.PidsResponse;
import io.containerd.task.v2.ResizePtyRequest;
import io.containerd.task.v2.ResumeRequest;
import io.containerd.task.v2.ShutdownRequest;
import io.containerd.task.v2.StartRequest;
import io.containerd.task.v2.StartResponse;
import io.containerd.task.v2.StateRequest;
import io.containerd.task.v2.StateResponse;
import io.containerd.task.v2.StatsRequest;
import io.containerd.task.v2.StatsResponse;
import io.containerd.task.v2.UpdateTaskRequest;
import io.containerd.task.v2.WaitRequest;
import io.containerd.task.v2.WaitResponse;
import io.javakata.shim.config.ShimContext;
import io.javakata.shim.container.Container;
import io.javakata.shim.container.ExecProcess;
import io.javakata.shim.container.ExitListener;
import io.javakata.shim.container.ExitStatus;
import io.javakata.shim.container.ProcessState;
import io.javakata.shim.container.TaskProcess;
import io.javakata.shim.container.GuestSpec;
import io.javakata.shim.events.EventPublisher;
import io.javakata.shim.metrics.PodMetrics;
import io.javakata.shim.sandbox.Sandbox;
import io.javakata.shim.sandbox.VmLauncher;
import io.javakata.shim.stdio.StdioPaths;
import io.javakata.ttrpc.Errors;
import io.javakata.ttrpc.RuntimeStatusException;
import io.javakata.ttrpc.TtrpcServer;
import io.javakata.ttrpc.UnaryHandler;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * {@code containerd.task.v2.Task}, also served as {@code containerd.task.v3.Task}: a thin translator, shaped like containerd's runc shim
 * ({@code cmd/containerd-shim-runc-v2/task/service.go}): look the container up, call the model,
 * publish the event, convert the answer. All the tasks of one pod share this service and one
 * {@link Sandbox}, made by the first task (the pod sandbox, or a lone {@code ctr run} container).
 *
 * <p>Thread-safety: requests run concurrently. Create and the sandbox teardown after the last Delete
 * are serialised by one lock; Start, the exit handling and Delete share a second lock, the event
 * lock, so TaskStart, TaskExit and TaskDelete of a task always leave in that order.
 */
public final class TaskService {

    public static final String SERVICE = "containerd.task.v2.Task";
    /**
     * The same service under containerd 2.x's name: its messages are those of v2 field for field, only the proto
     * package differs (containerd core/runtime/v2/bridge.go and the two shim.proto files), so one handler serves
     * both names.
     */
    public static final String SERVICE_V3 = "containerd.task.v3.Task";
    private static final List<String> SERVICES = List.of(SERVICE, SERVICE_V3);
    static final String CONTAINER_TYPE = "io.kubernetes.cri.container-type";
    static final String SANDBOX_ID = "io.kubernetes.cri.sandbox-id";

    private static final System.Logger LOG = System.getLogger(TaskService.class.getName());
    /** How long Shutdown waits before exiting, so its own answer reaches containerd first. */
    private static final long EXIT_DELAY_MILLIS = 200;
    /** How long an exit waits for its TaskOOM to reach containerd (CRI must see the OOM first). */
    private static final Duration OOM_SEND_WAIT = Duration.ofSeconds(5);
    /**
     * How long close() waits for the exits of the tasks the VM took with it: the guest's answer is gone
     * at once, then the exit waits at most TaskProcess.RELAY_DRAIN for containerd's FIFOs.
     */
    private static final Duration FINAL_EXITS_WAIT = TaskProcess.RELAY_DRAIN.plusSeconds(1);
    /**
     * How long a shim that has no task left (its last one deleted, or the create of its first one failed) waits for
     * containerd's Shutdown before it exits on its own. containerd sends Shutdown right after the Delete, but gives up
     * on it after its shim shutdown timeout and only logs that (containerd {@code runtime/v2/shim.go}, waitShutdown;
     * the timeout is {@code io.containerd.timeout.shim.shutdown}, 3 s by default), and a containerd that restarts
     * meanwhile never sends it;
     * a shim that waited for it forever would be a JVM left behind for nothing, since nothing can use it again: a
     * pod's last task is its sandbox's.
     */
    static final Duration ORPHAN_EXIT = Duration.ofSeconds(60);

    private final ShimContext ctx;
    private final EventPublisher events;
    private final Runnable exitShim;
    private final VmLauncher launcher;
    private final Map<String, Container> containers = new ConcurrentHashMap<>();
    private final ReentrantLock createLock = new ReentrantLock();
    private final ReentrantLock eventLock = new ReentrantLock();
    private volatile Sandbox sandbox;
    private volatile Duration orphanExit = ORPHAN_EXIT;
    private final java.util.concurrent.atomic.AtomicBoolean exiting = new java.util.concurrent.atomic.AtomicBoolean();
    /** Run once, on a thread of its own, once the pod has started; see {@link #afterPodStart}. */
    private final java.util.concurrent.atomic.AtomicReference<Runnable> afterPodStart =
            new java.util.concurrent.atomic.AtomicReference<>();
    /** Whether the thread that waits for the pod to be started runs; System.nanoTime of the last task's Start. */
    private final java.util.concurrent.atomic.AtomicBoolean podStartWatched = new java.util.concurrent.atomic.AtomicBoolean();
    private volatile long lastTaskStart;
    /**
     * How long no task of the pod must have started for the pod to count as started: kubelet starts a pod's
     * containers one after the other, and a JVM started meanwhile (a warm shim and its rehearsal, ~1 s of CPU) slowed
     * them by 0.3–1 s on this project's 2-core host (docs/benchmarks.md, "Warm shims").
     */
    static final Duration POD_QUIET = Duration.ofSeconds(10);
    private volatile Duration podQuiet = POD_QUIET;

    public TaskService(ShimContext ctx, EventPublisher events, Runnable exitShim) {
        this(ctx, events, exitShim, VmLauncher.forConfig(ctx.config()));
    }

    /** For tests: a chosen way to make VMs and reach their agents. */
    public TaskService(ShimContext ctx, EventPublisher events, Runnable exitShim, VmLauncher launcher) {
        this.ctx = Objects.requireNonNull(ctx, "ctx");
        this.events = Objects.requireNonNull(events, "events");
        this.exitShim = Objects.requireNonNull(exitShim, "exitShim");
        this.launcher = Objects.requireNonNull(launcher, "launcher");
    }

    /**
     * Runs {@code step} once, on a virtual thread, once the pod has started: when no task of it has started for
     * {@link #POD_QUIET} (execs do not count), or when the shim exits before that ({@link #runPendingAfterPodStart}).
     * For work for the node (the warm shims' top-up) that should not compete with the pod's own containers' start for
     * the host's CPUs.
     */
    public void afterPodStart(Runnable step) {
        afterPodStart.set(Objects.requireNonNull(step, "step"));
    }

    /** Registers all 17 methods of {@value #SERVICE} and of {@value #SERVICE_V3} on {@code server}. */
    public void register(TtrpcServer server) {
        on(server, "Create", CreateTaskRequest.parser(), this::create);
        on(server, "Start", StartRequest.parser(), this::start);
        on(server, "State", StateRequest.parser(), this::state);
        on(server, "Kill", KillRequest.parser(), this::kill);
        on(server, "Wait", WaitRequest.parser(), this::await);
        on(server, "Delete", DeleteRequest.parser(), this::delete);
        on(server, "Connect", ConnectRequest.parser(), this::connect);
        on(server, "Shutdown", ShutdownRequest.parser(), this::shutdown);
        on(server, "CloseIO", CloseIORequest.parser(), this::closeIO);
        on(server, "Exec", ExecProcessRequest.parser(), this::exec);
        on(server, "ResizePty", ResizePtyRequest.parser(), this::resizePty);
        on(server, "Pids", PidsRequest.parser(), this::pids);
        on(server, "Pause", PauseRequest.parser(), this::pause);
        on(server, "Resume", ResumeRequest.parser(), this::resume);
        on(server, "Update", UpdateTaskRequest.parser(), this::update);
        on(server, "Stats", StatsRequest.parser(), this::stats);
        for (String service : SERVICES) {
            server.registerUnary(service, "Checkpoint", CheckpointTaskRequest.parser(), (call, request) -> {
                throw Errors.unimplemented("Checkpoint of %s: checkpoint and restore are not supported by javakata "
                        + "(a VM-isolated container cannot be checkpointed with CRIU from the host)", request.getId());
            });
        }
    }

    CreateTaskResponse create(CreateTaskRequest request) {
        createLock.lock();
        boolean created = false;
        try {
            String id = TaskIds.container(request.getId());
            if (containers.containsKey(id)) {
                throw Errors.alreadyExists("container %s already exists", id);
            }
            Path bundle = Path.of(request.getBundle());
            ObjectNode spec = GuestSpec.read(bundle);
            GuestSpec.refuseHostNamespaces(spec);
            boolean ownsSandbox = sandbox == null;
            Sandbox pod = ownsSandbox ? Sandbox.create(ctx, sandboxIdFor(id, spec), launcher, spec) : joinSandbox(id, spec);
            StdioPaths stdio = new StdioPaths(request.getStdin(), request.getStdout(), request.getStderr(),
                    request.getTerminal());
            Container container;
            try {
                container = Container.create(pod, id, bundle, spec, Protos.rootfs(request.getRootfsList()), stdio);
            } catch (RuntimeException e) {
                if (ownsSandbox) {
                    pod.stop();
                }
                throw e;
            }
            if (ownsSandbox) {
                OomEvents.start(pod, this::publishOom);
                PodMetrics.serve(pod, () -> List.copyOf(containers.keySet()));
            }
            sandbox = pod;
            containers.put(id, container);
            created = true;
            events.publish("/tasks/create", TaskCreate.newBuilder().setContainerId(id).setBundle(request.getBundle())
                    .addAllRootfs(request.getRootfsList())
                    .setIo(TaskIO.newBuilder().setStdin(stdio.stdin()).setStdout(stdio.stdout())
                            .setStderr(stdio.stderr()).setTerminal(stdio.terminal()))
                    .setPid((int) container.pid()).build());
            return CreateTaskResponse.newBuilder().setPid((int) container.pid()).build();
        } finally {
            createLock.unlock();
            if (!created) {
                exitIfOrphaned();
            }
        }
    }

    StartResponse start(StartRequest request) {
        TaskProcess process = find(request.getId(), request.getExecId());
        eventLock.lock();
        try {
            process.start(eventLock, exitListener(process));
            events.publish(process.execId().isEmpty() ? "/tasks/start" : "/tasks/exec-started",
                    process.execId().isEmpty()
                            ? TaskStart.newBuilder().setContainerId(process.containerId()).setPid((int) process.pid())
                            .build()
                            : TaskExecStarted.newBuilder().setContainerId(process.containerId())
                            .setExecId(process.execId()).setPid((int) process.pid()).build());
        } finally {
            eventLock.unlock();
        }
        if (process.execId().isEmpty() && afterPodStart.get() != null) {
            lastTaskStart = System.nanoTime();
            if (podStartWatched.compareAndSet(false, true)) {
                Thread.ofVirtual().name("after-pod-start").start(this::runAfterPodStart);
            }
        }
        return StartResponse.newBuilder().setPid((int) process.pid()).build();
    }

    /**
     * Runs {@link #afterPodStart}'s step now if it has not run yet: the shim is exiting (its pod is gone), and the
     * node's work it stands for no longer competes with the pod.
     */
    public void runPendingAfterPodStart() {
        Runnable step = afterPodStart.getAndSet(null);
        if (step != null) {
            step.run();
        }
    }

    private void runAfterPodStart() {
        try {
            long quiet;
            while ((quiet = System.nanoTime() - lastTaskStart) < podQuiet.toNanos()) {
                Thread.sleep(Duration.ofNanos(podQuiet.toNanos() - quiet));
            }
        } catch (InterruptedException e) {
            return;
        }
        runPendingAfterPodStart();
    }

    /** TaskOOM (sent before anything else is queued) when the guest saw an OOM kill, then TaskExit. */
    private ExitListener exitListener(TaskProcess process) {
        return (status, oomKilled) -> {
            if (oomKilled) {
                publishOom(process.containerId());
            }
            String id = process.execId().isEmpty() ? process.containerId() : process.execId();
            events.publish("/tasks/exit", TaskExit.newBuilder().setContainerId(process.containerId()).setId(id)
                    .setPid((int) process.pid()).setExitStatus(status.status())
                    .setExitedAt(Protos.timestamp(status.exitedAt())).build());
        };
    }

    /**
     * Publishes TaskOOM and waits (bounded) until it was forwarded: CRI records OOMKilled only when
     * the oom event arrived before Wait returned (containerd pkg/cri/server/events.go).
     */
    private void publishOom(String containerId) {
        if (!containers.containsKey(containerId)) {
            return;
        }
        events.publish("/tasks/oom", TaskOOM.newBuilder().setContainerId(containerId).build());
        if (!events.awaitSent(OOM_SEND_WAIT)) {
            LOG.log(System.Logger.Level.WARNING, "TaskOOM of " + containerId + " not forwarded within "
                    + OOM_SEND_WAIT.toSeconds() + " s");
        }
    }

    Empty exec(ExecProcessRequest request) {
        Container container = container(request.getId());
        StdioPaths stdio = new StdioPaths(request.getStdin(), request.getStdout(), request.getStderr(),
                request.getTerminal());
        ExecProcess exec = container.exec(TaskIds.exec(request.getExecId()), Protos.processJson(request.getSpec()).toByteArray(), stdio);
        events.publish("/tasks/exec-added", TaskExecAdded.newBuilder().setContainerId(container.id())
                .setExecId(exec.execId()).build());
        return Empty.getDefaultInstance();
    }

    Empty resizePty(ResizePtyRequest request) {
        find(request.getId(), request.getExecId()).resizePty(request.getWidth(), request.getHeight());
        return Empty.getDefaultInstance();
    }

    PidsResponse pids(PidsRequest request) {
        return Protos.pids(container(request.getId()).processes());
    }

    Empty pause(PauseRequest request) {
        Container container = container(request.getId());
        container.pause();
        events.publish("/tasks/paused", TaskPaused.newBuilder().setContainerId(container.id()).build());
        return Empty.getDefaultInstance();
    }

    Empty resume(ResumeRequest request) {
        Container container = container(request.getId());
        container.resume();
        events.publish("/tasks/resumed", TaskResumed.newBuilder().setContainerId(container.id()).build());
        return Empty.getDefaultInstance();
    }

    Empty update(UpdateTaskRequest request) {
        Container container = container(request.getId());
        container.update(Protos.resourcesJson(request.getResources()).toByteArray());
        return Empty.getDefaultInstance();
    }

    StatsResponse stats(StatsRequest request) {
        Container container = container(request.getId());
        return StatsResponse.newBuilder().setStats(Any.newBuilder().setTypeUrl(Protos.CGROUPS_V2_METRICS)
                .setValue(container.stats().toByteString())).build();
    }

    StateResponse state(StateRequest request) {
        TaskProcess process = find(request.getId(), request.getExecId());
        Container container = container(request.getId());
        StdioPaths stdio = process.stdio();
        StateResponse.Builder response = StateResponse.newBuilder()
                .setId(process.execId().isEmpty() ? container.id() : process.execId()).setExecId(process.execId())
                .setBundle(container.bundle().toString()).setPid((int) process.pid())
                .setStatus(Protos.status(process.state()))
                .setStdin(stdio.stdin()).setStdout(stdio.stdout()).setStderr(stdio.stderr())
                .setTerminal(stdio.terminal());
        ExitStatus exit = process.exitStatus();
        if (exit != null) {
            response.setExitStatus(exit.status()).setExitedAt(Protos.timestamp(exit.exitedAt()));
        }
        return response.build();
    }

    Empty kill(KillRequest request) {
        find(request.getId(), request.getExecId()).kill(request.getSignal(), request.getAll());
        return Empty.getDefaultInstance();
    }

    WaitResponse await(WaitRequest request) {
        ExitStatus exit = find(request.getId(), request.getExecId()).awaitExit().join();
        return WaitResponse.newBuilder().setExitStatus(exit.status())
                .setExitedAt(Protos.timestamp(exit.exitedAt())).build();
    }

    DeleteResponse delete(DeleteRequest request) {
        if (!request.getExecId().isEmpty()) {
            return deleteExec(find(request.getId(), request.getExecId()));
        }
        Container container = container(request.getId());
        ExitStatus exit;
        eventLock.lock();
        try {
            try {
                exit = container.delete();
            } finally {
                if (container.state() instanceof ProcessState.Deleted) {
                    containers.remove(container.id(), container);
                }
            }
            events.publish("/tasks/delete", TaskDelete.newBuilder().setContainerId(container.id())
                    .setPid((int) container.pid()).setExitStatus(exit.status())
                    .setExitedAt(Protos.timestamp(exit.exitedAt())).build());
        } finally {
            eventLock.unlock();
        }
        stopSandboxIfUnused();
        exitIfOrphaned();
        return DeleteResponse.newBuilder().setPid((int) container.pid()).setExitStatus(exit.status())
                .setExitedAt(Protos.timestamp(exit.exitedAt())).build();
    }

    /**
     * An exec's delete: no TaskDelete (the runc shim sends it for the init only: containerd
     * {@code runtime/v2/runc/task/service.go}, {@code Delete}).
     */
    private DeleteResponse deleteExec(TaskProcess exec) {
        ExitStatus exit;
        eventLock.lock();
        try {
            exit = exec.delete();
        } finally {
            eventLock.unlock();
        }
        return DeleteResponse.newBuilder().setPid((int) exec.pid()).setExitStatus(exit.status())
                .setExitedAt(Protos.timestamp(exit.exitedAt())).build();
    }

    ConnectResponse connect(ConnectRequest request) {
        Container container = containers.get(request.getId());
        return ConnectResponse.newBuilder().setShimPid((int) ProcessHandle.current().pid())
                .setTaskPid(container == null ? 0 : (int) container.pid())
                .setVersion(Protos.version()).build();
    }

    Empty shutdown(ShutdownRequest request) {
        // A pod's shim serves several tasks; containerd sends Shutdown after each Delete (containerd
        // runtime/v2/shim.go, waitShutdown).
        if (!containers.isEmpty()) {
            return Empty.getDefaultInstance();
        }
        stopSandboxIfUnused();
        LOG.log(System.Logger.Level.INFO, "no task left: shim exits");
        CompletableFuture.delayedExecutor(EXIT_DELAY_MILLIS, TimeUnit.MILLISECONDS).execute(this::exit);
        return Empty.getDefaultInstance();
    }

    /**
     * When no task is left: exits the shim after {@link #ORPHAN_EXIT} unless containerd's Shutdown has made it exit by
     * then, or a task has been created meanwhile.
     */
    private void exitIfOrphaned() {
        if (!containers.isEmpty() || sandbox != null) {
            return;
        }
        Duration wait = orphanExit;
        CompletableFuture.delayedExecutor(wait.toMillis(), TimeUnit.MILLISECONDS).execute(() -> {
            createLock.lock();
            try {
                if (!containers.isEmpty() || sandbox != null || exiting.get()) {
                    return;
                }
            } finally {
                createLock.unlock();
            }
            LOG.log(System.Logger.Level.WARNING, "no task left and no Shutdown from containerd within "
                    + wait.toSeconds() + " s: shim exits");
            exit();
        });
    }

    private void exit() {
        if (exiting.compareAndSet(false, true)) {
            exitShim.run();
        }
    }

    /** For tests: how long a shim with no task left waits for Shutdown. */
    /** For tests: how long no task must have started for {@link #afterPodStart}'s step to run. */
    void podQuietFor(Duration quiet) {
        podQuiet = Objects.requireNonNull(quiet, "quiet");
    }

    void orphanExitAfter(Duration wait) {
        orphanExit = Objects.requireNonNull(wait, "wait");
    }

    Empty closeIO(CloseIORequest request) {
        TaskProcess container = find(request.getId(), request.getExecId());
        if (request.getStdin()) {
            container.closeStdin();
        }
        return Empty.getDefaultInstance();
    }

    /**
     * The shim is going away (SIGTERM, or after Shutdown): stops the pod's VM even while containers remain,
     * because nothing else would — QEMU, virtiofsd and the pod's mounts must not outlive their shim.
     * Idempotent; a no-op once the last Delete has stopped the VM.
     */
    public void close() {
        createLock.lock();
        try {
            Sandbox pod = sandbox;
            if (pod != null) {
                sandbox = null;
                LOG.log(System.Logger.Level.INFO, "shim exits with " + containers.size() + " task(s) left: stopping the VM");
                List<CompletableFuture<ExitStatus>> exits = containers.values().stream()
                        .filter(c -> c.state() instanceof ProcessState.Running || c.state() instanceof ProcessState.Paused)
                        .map(TaskProcess::awaitExit).toList();
                pod.stop();
                awaitFinalExits(exits);
                containers.clear();
            }
        } finally {
            createLock.unlock();
        }
    }

    /**
     * Waits, bounded, until every task that was running when the VM stopped has published its TaskExit
     * (its exit future completes after the event is queued), so that the publisher, closed after this,
     * sends them to containerd before the shim goes.
     */
    private static void awaitFinalExits(List<CompletableFuture<ExitStatus>> exits) {
        try {
            CompletableFuture.allOf(exits.toArray(CompletableFuture[]::new))
                    .get(FINAL_EXITS_WAIT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            LOG.log(System.Logger.Level.WARNING, "not every task reported its exit within "
                    + FINAL_EXITS_WAIT.toSeconds() + " s of the VM stopping");
        } catch (java.util.concurrent.ExecutionException e) {
            LOG.log(System.Logger.Level.WARNING, "a task's exit failed: " + e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void stopSandboxIfUnused() {
        createLock.lock();
        try {
            Sandbox pod = sandbox;
            if (pod != null && containers.isEmpty()) {
                sandbox = null;
                pod.stop();
            }
        } finally {
            createLock.unlock();
        }
    }

    /** The container's init (exec id "") or one of its execs; NOT_FOUND for either unknown. */
    private TaskProcess find(String id, String execId) {
        Container container = container(id);
        return TaskIds.exec(execId).isEmpty() ? container : container.exec(execId);
    }

    private Container container(String id) {
        Container container = containers.get(TaskIds.container(id));
        if (container == null) {
            throw Errors.notFound("container %s not created", id);
        }
        return container;
    }

    /** The pod a task belongs to: its sandbox-id annotation, or the task itself (plain ctr run). */
    private static String sandboxIdFor(String id, ObjectNode spec) {
        if ("container".equals(GuestSpec.annotation(spec, CONTAINER_TYPE))) {
            throw Errors.failedPrecondition("container %s belongs to sandbox %s, which this shim does not run", id,
                    GuestSpec.annotation(spec, SANDBOX_ID));
        }
        String sandboxId = GuestSpec.annotation(spec, SANDBOX_ID);
        return sandboxId.isEmpty() ? id : TaskIds.check("sandbox id (annotation " + SANDBOX_ID + ")", sandboxId);
    }

    private Sandbox joinSandbox(String id, ObjectNode spec) {
        Sandbox pod = sandbox;
        String sandboxId = GuestSpec.annotation(spec, SANDBOX_ID);
        if ("sandbox".equals(GuestSpec.annotation(spec, CONTAINER_TYPE)) || sandboxId.isEmpty()
                || !sandboxId.equals(pod.id())) {
            throw Errors.failedPrecondition("create %s: this shim already runs sandbox %s and %s is not one of its "
                    + "containers (annotation %s=%s)", id, pod.id(), id, SANDBOX_ID, sandboxId);
        }
        return pod;
    }

    private <Q extends Message> void on(TtrpcServer server, String method, Parser<Q> parser,
                                        java.util.function.Function<Q, Message> handler) {
        UnaryHandler<Q> unary = (call, request) -> {
            try {
                return handler.apply(request);
            } catch (RuntimeStatusException e) {
                LOG.log(System.Logger.Level.DEBUG, "{0}: {1}", method, e);
                throw e;
            }
        };
        for (String service : SERVICES) {
            server.registerUnary(service, method, parser, unary);
        }
    }
}
