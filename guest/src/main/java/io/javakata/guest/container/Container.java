package io.javakata.guest.container;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

import io.javakata.guest.cgroup.Cgroup;
import io.javakata.guest.reaper.ExitStatus;
import io.javakata.guest.stdio.ContainerStdio;
import io.javakata.ttrpc.Errors;

/**
 * One container in the guest: its bundle, its cgroup, its init process (this object, which the runtime's
 * {@code create} made, so it starts {@link ProcessState#CREATED} with its pid known) and its execs, in a map keyed
 * by exec id. The exit may overtake start (init killed before start): then start is refused. Thread-safe.
 */
public final class Container extends ContainerProcess {

    private final Path bundle;
    private final Cgroup cgroup;
    private final ConcurrentMap<String, ExecProcess> execs = new ConcurrentHashMap<>();

    /**
     * @param exit   completes when init was reaped and, for a container without a PID namespace of its
     *               own, what was left of it was killed ({@link ContainerManager})
     * @param cgroup the container's cgroup, or null when it could not be found (then no stats and
     *               no OOM reports)
     */
    Container(String id, Path bundle, int initPid, ContainerStdio stdio, CompletableFuture<ExitStatus> exit,
              Cgroup cgroup) {
        super(id, "", stdio, ProcessState.CREATED, initPid, cgroup == null ? 0 : cgroup.oomKills());
        this.bundle = bundle;
        this.cgroup = cgroup;
        exitsWith(exit);
    }

    /** The container's cgroup, or null when unknown. */
    public Cgroup cgroup() {
        return cgroup;
    }

    /** The exec with this id, or NOT_FOUND. */
    public ExecProcess exec(String execId) {
        ExecProcess exec = execs.get(execId);
        if (exec == null) {
            throw Errors.notFound("exec %s not found in container %s", execId, id());
        }
        return exec;
    }

    public List<ExecProcess> execs() {
        return List.copyOf(execs.values());
    }

    /** EXEC, then registers {@code exec}: ALREADY_EXISTS for an exec id in use. */
    void addExec(ExecProcess exec) {
        apply(ProcessState.Event.EXEC, "exec " + exec.execId() + " in container " + id());
        if (execs.putIfAbsent(exec.execId(), exec) != null) {
            throw Errors.alreadyExists("exec %s already exists in container %s", exec.execId(), id());
        }
    }

    void removeExec(ExecProcess exec) {
        execs.remove(exec.execId(), exec);
    }

    public String id() {
        return containerId();
    }

    public Path bundle() {
        return bundle;
    }

    public int initPid() {
        return pid();
    }
}
