package io.javakata.shim.container;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javakata.agent.v1.CreateContainerRequest;
import io.javakata.agent.v1.CreateContainerResponse;
import io.javakata.agent.v1.WaitProcessResponse;
import io.javakata.shim.agent.AgentClient;
import io.javakata.shim.rootfs.Mounter;
import io.javakata.shim.rootfs.RootfsMount;
import io.javakata.shim.sandbox.CleanupStack;
import io.javakata.shim.sandbox.Sandbox;
import io.javakata.shim.sandbox.SandboxPaths;
import io.javakata.shim.stdio.StdioPaths;
import io.javakata.shim.stdio.StdioRelay;
import io.javakata.shim.volume.SharedMounts;
import io.javakata.ttrpc.Errors;
import io.javakata.ttrpc.RuntimeStatusException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.locks.Lock;
import java.util.function.Consumer;

/**
 * One container of the pod and its init process: the host side (rootfs mount, guest spec, stdio
 * relay) and the guest side (through the agent). Its {@link ProcessState} decides what is legal.
 *
 * <p>Thread-safety: all methods may be called from any thread; state changes happen under the
 * container's lock, agent calls outside it except where ordering needs them inside (start).
 */
public final class Container {

    private static final System.Logger LOG = System.getLogger(Container.class.getName());
    /** Reported when the guest could not say how the process ended (VM or agent lost). */
    private static final int LOST_STATUS = 255;

    private final String id;
    private final Path bundle;
    private final StdioPaths stdio;
    private final List<RootfsMount> rootfs;
    private final Sandbox sandbox;
    private final StdioRelay relay;
    private final CompletableFuture<ExitStatus> exit = new CompletableFuture<>();
    private ProcessState state = ProcessState.CREATED;
    private ExitStatus exitStatus;

    private Container(String id, Path bundle, StdioPaths stdio, List<RootfsMount> rootfs, Sandbox sandbox,
                      StdioRelay relay) {
        this.id = id;
        this.bundle = bundle;
        this.stdio = stdio;
        this.rootfs = rootfs;
        this.sandbox = sandbox;
        this.relay = relay;
    }

    /**
     * Mounts the rootfs at shared/&lt;id&gt;/rootfs, sends the rewritten spec to the agent and starts the
     * stdio relay. On failure undoes what it did (guest container, mount, directory) and throws with
     * context "create container &lt;id&gt;: …".
     */
    public static Container create(Sandbox sandbox, String id, Path bundle, ObjectNode spec, List<RootfsMount> rootfs,
                                   StdioPaths stdio) {
        SandboxPaths paths = sandbox.paths();
        AgentClient agent = sandbox.agent();
        CleanupStack undo = new CleanupStack();
        try {
            sandbox.ensureRunning();
            Path containerDir = paths.containerDir(id);
            if (Files.exists(containerDir)) {
                throw Errors.alreadyExists("%s already exists", containerDir);
            }
            Files.createDirectories(paths.rootfs(id));
            undo.push("remove " + containerDir, () -> Mounter.deleteTree(containerDir));
            Mounter.mountRootfs(rootfs, paths.rootfs(id));
            undo.push("unmount " + paths.rootfs(id), () -> Mounter.unmount(paths.rootfs(id)));

            SharedMounts volumes = SharedMounts.expose(spec, containerDir, SandboxPaths.guestContainerDir(id),
                    sandbox.podContainerPid());
            undo.push("release volumes of " + id, volumes::close);
            ObjectNode guestSpec = GuestSpec.rewrite(spec, SandboxPaths.guestRootfs(id), volumes.guestMounts(),
                    sandbox.podContainerPid());
            CreateContainerResponse created = agent.createContainer(CreateContainerRequest.newBuilder()
                    .setContainerId(id)
                    .setOciSpec(com.google.protobuf.ByteString.copyFrom(GuestSpec.toBytes(guestSpec)))
                    .setTerminal(stdio.terminal())
                    .setStdin(!stdio.stdin().isEmpty())
                    .setStdout(!stdio.stdout().isEmpty())
                    .setStderr(!stdio.stderr().isEmpty())
                    .build());
            undo.push("remove container in the guest", () -> agent.removeContainer(id));
            sandbox.containerCreated(id, GuestSpec.annotation(spec, GuestSpec.CONTAINER_TYPE), created.getPid());
            StdioRelay relay = StdioRelay.start(agent, id, "", stdio);
            undo.release();
            return new Container(id, bundle, stdio, rootfs, sandbox, relay);
        } catch (RuntimeStatusException e) {
            undo.unwind();
            throw e.withContext("create container " + id);
        } catch (IOException | RuntimeException e) {
            undo.unwind();
            throw Errors.unknown("create container %s: %s", id, e.getMessage());
        }
    }

    public String id() {
        return id;
    }

    public Path bundle() {
        return bundle;
    }

    public StdioPaths stdio() {
        return stdio;
    }

    public List<RootfsMount> rootfs() {
        return rootfs;
    }

    /** The pid reported to containerd: the VMM's (protocol-facts §6.2 trap 6). */
    public long pid() {
        return sandbox.pid();
    }

    public synchronized ProcessState state() {
        return state;
    }

    /** The exit status, or null while the process has not exited. */
    public synchronized ExitStatus exitStatus() {
        return exitStatus;
    }

    /**
     * Starts the process in the guest, then a waiter: WaitProcess, then the end of the stdout/stderr
     * relay, then, holding {@code eventLock}, the exit is recorded and {@code onExit} runs; only then
     * do {@link #awaitExit()} futures complete. The caller holds {@code eventLock} across this call
     * and its TaskStart event, and across Delete and its TaskDelete event, so events always go out
     * as start, exit, delete (runc shim, {@code task/service.go Start}, {@code handleInitExit}).
     */
    public void start(Lock eventLock, Consumer<ExitStatus> onExit) {
        synchronized (this) {
            ProcessState next = state.next(ProcessState.Operation.START);
            try {
                sandbox.agent().startContainer(id);
            } catch (RuntimeStatusException e) {
                throw e.withContext("start container " + id);
            }
            state = next;
        }
        Thread.ofVirtual().name("wait-" + id).start(() -> awaitGuestExit(eventLock, onExit));
    }

    private void awaitGuestExit(Lock eventLock, Consumer<ExitStatus> onExit) {
        ExitStatus status;
        try {
            WaitProcessResponse response = sandbox.agent().waitProcess(id, "");
            Instant at = response.hasExitedAt()
                    ? Instant.ofEpochSecond(response.getExitedAt().getSeconds(), response.getExitedAt().getNanos())
                    : Instant.now();
            status = new ExitStatus(response.getExitStatus() & 0xff, at);
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "wait for container " + id + ": " + e.getMessage()
                    + "; reporting exit status " + LOST_STATUS);
            status = new ExitStatus(LOST_STATUS, Instant.now());
        }
        // The guest has seen EOF on the pipes; wait until the host FIFOs got every byte too.
        relay.outputDone().join();
        eventLock.lock();
        try {
            synchronized (this) {
                if (state instanceof ProcessState.Running) {
                    state = state.next(ProcessState.Operation.EXIT);
                    exitStatus = status;
                }
            }
            onExit.accept(status);
        } finally {
            eventLock.unlock();
            exit.complete(status);
        }
    }

    /** Completes with the exit status; the same answer for every caller. */
    public CompletableFuture<ExitStatus> awaitExit() {
        return exit;
    }

    /** Sends {@code signal} to the process (or to all of the container's processes). */
    public void kill(int signal, boolean all) {
        synchronized (this) {
            state.next(ProcessState.Operation.KILL);
        }
        try {
            sandbox.agent().signalProcess(id, "", signal, all);
        } catch (RuntimeStatusException e) {
            throw e.withContext("kill container " + id);
        }
    }

    /** CloseIO: the process's stdin reaches EOF. */
    public void closeStdin() {
        relay.closeStdin();
    }

    /**
     * Removes the container from the guest and the host (relay, rootfs mount, shared/&lt;id&gt;).
     * Refused while running; allowed for a process created but never started.
     */
    public ExitStatus delete() {
        ExitStatus result;
        synchronized (this) {
            ProcessState next = state.next(ProcessState.Operation.DELETE);
            result = exitStatus != null ? exitStatus : new ExitStatus(0, Instant.now());
            state = next;
        }
        exit.complete(result);
        relay.close();
        try {
            sandbox.agent().removeContainer(id);
        } catch (RuntimeStatusException e) {
            if (e.code() != io.javakata.ttrpc.Code.NOT_FOUND) {
                LOG.log(System.Logger.Level.WARNING, "remove container " + id + " in the guest: " + e.getMessage());
            }
        }
        sandbox.containerRemoved(id);
        try {
            Mounter.unmountUnder(sandbox.paths().containerDir(id));
            Mounter.deleteTree(sandbox.paths().containerDir(id));
        } catch (IOException e) {
            throw Errors.unknown("delete container %s: %s", id, e.getMessage());
        }
        return result;
    }

    @Override
    public String toString() {
        return "container " + id + " (" + Objects.toString(state().label()) + ")";
    }
}
