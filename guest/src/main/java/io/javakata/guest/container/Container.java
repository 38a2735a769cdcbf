package io.javakata.guest.container;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.atomic.AtomicReference;

import io.javakata.guest.cgroup.Cgroup;
import io.javakata.guest.reaper.ExitStatus;
import io.javakata.guest.stdio.ContainerStdio;
import io.javakata.ttrpc.Errors;

/**
 * One container in the guest: its bundle, its init process and that process's stdio.
 *
 * <p>States: CREATED (runc create done, init waits on runc's exec FIFO) → RUNNING (runc start done)
 * → EXITED (init reaped). The exit may overtake start (init killed before start), which is why
 * {@link #markStarted()} refuses only an EXITED container that was never started after the fact.
 * Its execs live in a map keyed by exec id. Thread-safe.
 */
public final class Container implements ContainerProcess {

    /** Life-cycle states of the init process. */
    public enum State { CREATED, RUNNING, EXITED }

    private final String id;
    private final Path bundle;
    private final int initPid;
    private final ContainerStdio stdio;
    private final CompletableFuture<ExitStatus> exit;
    private final CompletableFuture<ExitStatus> exitWithOutput;
    private final AtomicReference<State> state = new AtomicReference<>(State.CREATED);
    private final Cgroup cgroup;
    private final long oomKillsAtStart;
    private final ConcurrentMap<String, ExecProcess> execs = new ConcurrentHashMap<>();

    /**
     * @param exit   completes when init was reaped and, for a container without a PID namespace of its
     *               own, what was left of it was killed ({@link ContainerManager})
     * @param cgroup the container's cgroup, or null when it could not be found (then no stats and
     *               no OOM reports)
     */
    Container(String id, Path bundle, int initPid, ContainerStdio stdio, CompletableFuture<ExitStatus> exit,
              Cgroup cgroup) {
        this.id = id;
        this.bundle = bundle;
        this.initPid = initPid;
        this.stdio = stdio;
        this.exit = exit;
        this.cgroup = cgroup;
        this.oomKillsAtStart = cgroup == null ? 0 : cgroup.oomKills();
        this.exitWithOutput = exit.thenCompose(status -> stdio.outputsDrained(ContainerProcess.OUTPUT_DRAIN)
                .thenApply(ignored -> status));
        exit.thenRun(() -> state.set(State.EXITED));
    }

    @Override
    public String containerId() {
        return id;
    }

    @Override
    public String execId() {
        return "";
    }

    @Override
    public int pid() {
        return initPid;
    }

    @Override
    public long oomKillsAtStart() {
        return oomKillsAtStart;
    }

    /** The container's cgroup, or null when unknown. */
    public Cgroup cgroup() {
        return cgroup;
    }

    /** The exec with this id, or NOT_FOUND. */
    public ExecProcess exec(String execId) {
        ExecProcess exec = execs.get(execId);
        if (exec == null) {
            throw Errors.notFound("exec %s not found in container %s", execId, id);
        }
        return exec;
    }

    public List<ExecProcess> execs() {
        return List.copyOf(execs.values());
    }

    void addExec(ExecProcess exec) {
        if (execs.putIfAbsent(exec.execId(), exec) != null) {
            throw Errors.alreadyExists("exec %s already exists in container %s", exec.execId(), id);
        }
    }

    void removeExec(ExecProcess exec) {
        execs.remove(exec.execId(), exec);
    }

    public String id() {
        return id;
    }

    public Path bundle() {
        return bundle;
    }

    public int initPid() {
        return initPid;
    }

    @Override
    public ContainerStdio stdio() {
        return stdio;
    }

    public State state() {
        // The exit future is done before its dependents (which set EXITED) run: ask it first.
        return exit.isDone() ? State.EXITED : state.get();
    }

    /** Completes when init was reaped. */
    public CompletableFuture<ExitStatus> exit() {
        return exit;
    }

    @Override
    public CompletableFuture<ExitStatus> exitWithOutput() {
        return exitWithOutput;
    }

    void markStarted() {
        if (!state.compareAndSet(State.CREATED, State.RUNNING)) {
            throw Errors.failedPrecondition("cannot start container %s in state %s", id,
                    state.get().name().toLowerCase());
        }
    }
}
