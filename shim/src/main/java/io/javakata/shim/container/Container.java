package io.javakata.shim.container;

import io.javakata.sys.Mounts;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.containerd.cgroups.v2.Metrics;
import io.javakata.shim.agent.Agent;
import io.javakata.shim.rootfs.Mounter;
import io.javakata.sys.ErrnoException;
import io.javakata.sys.MountFds;
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
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One container of the pod and its init process: the host side (rootfs mount, guest spec, stdio
 * relay) and the guest side (through the agent), and its execs. Its {@link ProcessState} decides
 * what is legal; pause, resume and exec go through the init's state.
 *
 * <p>Thread-safety: all methods may be called from any thread; state changes happen under the
 * container's lock, agent calls outside it except where ordering needs them inside (start, pause).
 */
public final class Container extends TaskProcess {

    private static final System.Logger LOG = System.getLogger(Container.class.getName());

    private final String id;
    private final Path bundle;
    private static final int EEXIST = 17;
    private final List<RootfsMount> rootfs;
    private final Map<String, ExecProcess> execs = new ConcurrentHashMap<>();

    private Container(String id, Path bundle, StdioPaths stdio, List<RootfsMount> rootfs, Sandbox sandbox,
                      StdioRelay relay) {
        super(sandbox, id, "", stdio, relay);
        this.id = id;
        this.bundle = bundle;
        this.rootfs = rootfs;
    }

    /**
     * Mounts the rootfs at shared/&lt;id&gt;/rootfs, sends the rewritten spec to the agent and starts the
     * stdio relay. On failure undoes what it did (guest container, mount, directory) and throws with
     * context "create container &lt;id&gt;: …".
     */
    public static Container create(Sandbox sandbox, String id, Path bundle, ObjectNode spec, List<RootfsMount> rootfs,
                                   StdioPaths stdio) {
        SandboxPaths paths = sandbox.paths();
        Agent agent = sandbox.agent();
        CleanupStack undo = new CleanupStack();
        try {
            sandbox.ensureRunning();
            Path containerDir = paths.containerDir(id);
            makeContainerDir(paths, id);
            undo.push("remove " + containerDir, () -> Mounts.deleteTree(containerDir));
            Mounter.mountRootfs(rootfs, paths.rootfs(id));
            undo.push("unmount " + paths.rootfs(id), () -> Mounter.unmount(paths.rootfs(id)));

            SharedMounts volumes = SharedMounts.expose(spec, containerDir, SandboxPaths.guestContainerDir(id),
                    GuestSpec.shmMode(spec));
            undo.push("release volumes of " + id, volumes::close);
            ObjectNode guestSpec = GuestSpec.rewrite(spec, SandboxPaths.guestRootfs(id), volumes.guestMounts(),
                    volumes.createRuntimeHooks(), sandbox.podContainerPid());
            int guestPid = agent.createContainer(id, GuestSpec.toBytes(guestSpec), new Agent.Stdio(stdio.terminal(),
                    !stdio.stdin().isEmpty(), !stdio.stdout().isEmpty(), !stdio.stderr().isEmpty()));
            undo.push("remove container in the guest", () -> agent.removeContainer(id));
            sandbox.containerCreated(id, GuestSpec.annotation(spec, GuestSpec.CONTAINER_TYPE), guestPid);
            // The pod's sandbox (pause) container has no CRI name; the kubelet calls it POD.
            sandbox.timeline().containerCreated(id, "sandbox".equals(GuestSpec.annotation(spec, GuestSpec.CONTAINER_TYPE))
                    ? "POD" : GuestSpec.annotation(spec, GuestSpec.CONTAINER_NAME));
            StdioRelay relay = StdioRelay.start(agent, id, "", stdio);
            undo.release();
            return new Container(id, bundle, stdio, rootfs, sandbox, relay);
        } catch (RuntimeStatusException e) {
            undo.unwind();
            throw e.withContext("create container " + id);
        } catch (IOException | RuntimeException e) {
            undo.unwind();
            throw Errors.unknown(e, "create container %s", id);
        }
    }

    public String id() {
        return id;
    }

    public Path bundle() {
        return bundle;
    }

    public List<RootfsMount> rootfs() {
        return rootfs;
    }

    /**
     * The pid reported to containerd: the VMM's. CRI gives a pod's other containers {@code /proc/<that pid>/ns/*}
     * paths (containerd {@code pkg/cri/server/container_create_linux.go}), which GuestSpec drops.
     */
    @Override
    public long pid() {
        return sandbox.pid();
    }

    @Override
    int startInGuest() {
        return sandbox.agent().startProcess(id, "");
    }

    @Override
    void started(int guestPid) {
        // containerd is told the VMM's pid for the init.
        sandbox.timeline().containerStarted(id);
    }

    /**
     * Adds an exec: registered in the guest (nothing runs until its Start) with its stdio relay
     * running. ALREADY_EXISTS for an exec id in use; FAILED_PRECONDITION once the init has exited.
     *
     * @param processJson the OCI Process as JSON, passed through as containerd sent it
     */
    public ExecProcess exec(String execId, byte[] processJson, StdioPaths stdio) {
        synchronized (execs) {
            check(ProcessState.Operation.EXEC);
            if (execs.containsKey(execId)) {
                throw Errors.alreadyExists("exec %s already exists in container %s", execId, id);
            }
            try {
                sandbox.agent().execProcess(id, execId, processJson, new Agent.Stdio(stdio.terminal(),
                        !stdio.stdin().isEmpty(), !stdio.stdout().isEmpty(),
                        !stdio.stderr().isEmpty() && !stdio.terminal()));
            } catch (RuntimeStatusException e) {
                throw e.withContext("exec " + execId + " in container " + id);
            }
            ExecProcess exec = new ExecProcess(this, execId, stdio, StdioRelay.start(sandbox.agent(), id, execId,
                    stdio));
            execs.put(execId, exec);
            return exec;
        }
    }

    /** The exec with this id, or NOT_FOUND. */
    public ExecProcess exec(String execId) {
        ExecProcess exec = execs.get(execId);
        if (exec == null) {
            throw Errors.notFound("exec %s not found in container %s", execId, id);
        }
        return exec;
    }

    void forget(ExecProcess exec) {
        execs.remove(exec.execId(), exec);
    }

    /** Freezes every process of the container in the guest. */
    public void pause() {
        try {
            transition(ProcessState.Operation.PAUSE, () -> sandbox.agent().pauseContainer(id));
        } catch (RuntimeStatusException e) {
            throw e.withContext("pause container " + id);
        }
    }

    public void resume() {
        try {
            transition(ProcessState.Operation.RESUME, () -> sandbox.agent().resumeContainer(id));
        } catch (RuntimeStatusException e) {
            throw e.withContext("resume container " + id);
        }
    }

    /** Applies OCI LinuxResources (JSON, passed through) to the container's cgroup in the guest. */
    public void update(byte[] resourcesJson) {
        try {
            sandbox.agent().updateContainer(id, resourcesJson);
        } catch (RuntimeStatusException e) {
            throw e.withContext("update container " + id);
        }
    }

    /** cgroup v2 metrics of the container's cgroup in the guest. */
    public Metrics stats() {
        try {
            return sandbox.agent().statsContainer(id);
        } catch (RuntimeStatusException e) {
            throw e.withContext("stats of container " + id);
        }
    }

    /** The processes of the container in the guest (guest pids; an exec's main process has its id). */
    public List<Agent.GuestProcess> processes() {
        try {
            return sandbox.agent().listProcesses(id);
        } catch (RuntimeStatusException e) {
            throw e.withContext("processes of container " + id);
        }
    }

    /**
     * Delete of the init: the container leaves the guest (its execs with it) and the host (relay,
     * mounts, shared/&lt;id&gt;).
     */
    @Override
    void removeEverywhere() {
        for (ExecProcess exec : List.copyOf(execs.values())) {
            exec.closeRelay();
            execs.remove(exec.execId());
        }
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
            Mounts.deleteTree(sandbox.paths().containerDir(id));
        } catch (IOException e) {
            throw Errors.unknown(e, "delete container %s", id);
        }
    }

    /**
     * Makes {@code mounts/<id>/rootfs} with mkdirat(2) from descriptors: an entry that already exists
     * (a container of that id, or anything else) is ALREADY_EXISTS, never followed.
     */
    private static void makeContainerDir(SandboxPaths paths, String id) throws IOException {
        try (MountFds.Fd mounts = MountFds.openDirectory(paths.mounts())) {
            try {
                MountFds.mkdirIn(mounts, id, 0755);
            } catch (ErrnoException e) {
                if (e.errno() == EEXIST) {
                    throw Errors.alreadyExists("%s already exists", paths.containerDir(id));
                }
                throw e;
            }
            try (MountFds.Fd dir = MountFds.openBeneath(mounts, id, true)) {
                MountFds.mkdirIn(dir, "rootfs", 0755);
            } catch (IOException e) {
                // The caller undoes only what this method finished: remove the directory made above.
                Files.deleteIfExists(paths.containerDir(id));
                throw e;
            }
        }
    }

    @Override
    public String toString() {
        return "container " + id + " (" + state().label() + ")";
    }
}
