package io.javakata.shim.task;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.Empty;
import com.google.protobuf.Message;
import com.google.protobuf.Parser;
import io.containerd.events.TaskCreate;
import io.containerd.events.TaskDelete;
import io.containerd.events.TaskExit;
import io.containerd.events.TaskIO;
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
import io.containerd.task.v2.ResizePtyRequest;
import io.containerd.task.v2.ResumeRequest;
import io.containerd.task.v2.ShutdownRequest;
import io.containerd.task.v2.StartRequest;
import io.containerd.task.v2.StartResponse;
import io.containerd.task.v2.StateRequest;
import io.containerd.task.v2.StateResponse;
import io.containerd.task.v2.StatsRequest;
import io.containerd.task.v2.UpdateTaskRequest;
import io.containerd.task.v2.WaitRequest;
import io.containerd.task.v2.WaitResponse;
import io.javakata.shim.config.ShimContext;
import io.javakata.shim.container.Container;
import io.javakata.shim.container.ExitStatus;
import io.javakata.shim.container.GuestSpec;
import io.javakata.shim.events.EventPublisher;
import io.javakata.shim.sandbox.Sandbox;
import io.javakata.shim.sandbox.VmLauncher;
import io.javakata.shim.stdio.StdioPaths;
import io.javakata.ttrpc.Errors;
import io.javakata.ttrpc.RuntimeStatusException;
import io.javakata.ttrpc.TtrpcServer;
import io.javakata.ttrpc.UnaryHandler;
import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * {@code containerd.task.v2.Task}: a thin translator, shaped like containerd's runc shim
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
    static final String CONTAINER_TYPE = "io.kubernetes.cri.container-type";
    static final String SANDBOX_ID = "io.kubernetes.cri.sandbox-id";

    private static final System.Logger LOG = System.getLogger(TaskService.class.getName());
    /** How long Shutdown waits before exiting, so its own answer reaches containerd first. */
    private static final long EXIT_DELAY_MILLIS = 200;

    private final ShimContext ctx;
    private final EventPublisher events;
    private final Runnable exitShim;
    private final VmLauncher launcher;
    private final Map<String, Container> containers = new ConcurrentHashMap<>();
    private final ReentrantLock createLock = new ReentrantLock();
    private final ReentrantLock eventLock = new ReentrantLock();
    private volatile Sandbox sandbox;

    public TaskService(ShimContext ctx, EventPublisher events, Runnable exitShim) {
        this(ctx, events, exitShim, VmLauncher.qemu());
    }

    /** For tests: a chosen way to make VMs and reach their agents. */
    public TaskService(ShimContext ctx, EventPublisher events, Runnable exitShim, VmLauncher launcher) {
        this.ctx = Objects.requireNonNull(ctx, "ctx");
        this.events = Objects.requireNonNull(events, "events");
        this.exitShim = Objects.requireNonNull(exitShim, "exitShim");
        this.launcher = Objects.requireNonNull(launcher, "launcher");
    }

    /** Registers all 17 methods of {@value #SERVICE} on {@code server}. */
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
        unimplemented(server, "Pids", PidsRequest.parser());
        unimplemented(server, "Pause", PauseRequest.parser());
        unimplemented(server, "Resume", ResumeRequest.parser());
        unimplemented(server, "Checkpoint", CheckpointTaskRequest.parser());
        unimplemented(server, "Exec", ExecProcessRequest.parser());
        unimplemented(server, "ResizePty", ResizePtyRequest.parser());
        unimplemented(server, "Update", UpdateTaskRequest.parser());
        unimplemented(server, "Stats", StatsRequest.parser());
    }

    CreateTaskResponse create(CreateTaskRequest request) {
        createLock.lock();
        try {
            String id = request.getId();
            if (containers.containsKey(id)) {
                throw Errors.alreadyExists("container %s already exists", id);
            }
            Path bundle = Path.of(request.getBundle());
            ObjectNode spec = GuestSpec.read(bundle);
            boolean ownsSandbox = sandbox == null;
            Sandbox pod = ownsSandbox ? Sandbox.create(ctx, sandboxIdFor(id, spec), launcher,
                    GuestSpec.annotations(spec)) : joinSandbox(id, spec);
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
            sandbox = pod;
            containers.put(id, container);
            events.publish("/tasks/create", TaskCreate.newBuilder().setContainerId(id).setBundle(request.getBundle())
                    .addAllRootfs(request.getRootfsList())
                    .setIo(TaskIO.newBuilder().setStdin(stdio.stdin()).setStdout(stdio.stdout())
                            .setStderr(stdio.stderr()).setTerminal(stdio.terminal()))
                    .setPid((int) container.pid()).build());
            return CreateTaskResponse.newBuilder().setPid((int) container.pid()).build();
        } finally {
            createLock.unlock();
        }
    }

    StartResponse start(StartRequest request) {
        Container container = find(request.getId(), request.getExecId());
        eventLock.lock();
        try {
            container.start(eventLock, status -> events.publish("/tasks/exit", TaskExit.newBuilder()
                    .setContainerId(container.id()).setId(container.id()).setPid((int) container.pid())
                    .setExitStatus(status.status()).setExitedAt(Protos.timestamp(status.exitedAt())).build()));
            events.publish("/tasks/start", TaskStart.newBuilder().setContainerId(container.id())
                    .setPid((int) container.pid()).build());
        } finally {
            eventLock.unlock();
        }
        return StartResponse.newBuilder().setPid((int) container.pid()).build();
    }

    StateResponse state(StateRequest request) {
        Container container = find(request.getId(), request.getExecId());
        StdioPaths stdio = container.stdio();
        StateResponse.Builder response = StateResponse.newBuilder().setId(container.id())
                .setBundle(container.bundle().toString()).setPid((int) container.pid())
                .setStatus(Protos.status(container.state()))
                .setStdin(stdio.stdin()).setStdout(stdio.stdout()).setStderr(stdio.stderr())
                .setTerminal(stdio.terminal());
        ExitStatus exit = container.exitStatus();
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
        Container container = find(request.getId(), request.getExecId());
        ExitStatus exit;
        eventLock.lock();
        try {
            try {
                exit = container.delete();
            } finally {
                if (container.state() instanceof io.javakata.shim.container.ProcessState.Deleted) {
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
        return DeleteResponse.newBuilder().setPid((int) container.pid()).setExitStatus(exit.status())
                .setExitedAt(Protos.timestamp(exit.exitedAt())).build();
    }

    ConnectResponse connect(ConnectRequest request) {
        Container container = containers.get(request.getId());
        return ConnectResponse.newBuilder().setShimPid((int) ProcessHandle.current().pid())
                .setTaskPid(container == null ? 0 : (int) container.pid())
                .setVersion(Protos.version()).build();
    }

    Empty shutdown(ShutdownRequest request) {
        // A pod's shim serves several tasks; containerd sends Shutdown after each Delete (§2.7).
        if (!containers.isEmpty()) {
            return Empty.getDefaultInstance();
        }
        stopSandboxIfUnused();
        LOG.log(System.Logger.Level.INFO, "no task left: shim exits");
        CompletableFuture.delayedExecutor(EXIT_DELAY_MILLIS, TimeUnit.MILLISECONDS).execute(exitShim);
        return Empty.getDefaultInstance();
    }

    Empty closeIO(CloseIORequest request) {
        Container container = find(request.getId(), request.getExecId());
        if (request.getStdin()) {
            container.closeStdin();
        }
        return Empty.getDefaultInstance();
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

    private Container find(String id, String execId) {
        Container container = containers.get(id);
        if (container == null) {
            throw Errors.notFound("container %s not created", id);
        }
        if (!execId.isEmpty()) {
            throw Errors.notFound("exec %s not found in container %s", execId, id);
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
        return sandboxId.isEmpty() ? id : sandboxId;
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
        server.registerUnary(SERVICE, method, parser, unary);
    }

    private static <Q extends Message> void unimplemented(TtrpcServer server, String method, Parser<Q> parser) {
        server.registerUnary(SERVICE, method, parser, (call, request) -> {
            throw Errors.unimplemented("%s is not implemented by javakata yet", method);
        });
    }
}
