package io.javakata.guest.container;

import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;

import io.javakata.guest.reaper.ExitStatus;
import io.javakata.guest.stdio.ContainerStdio;
import io.javakata.ttrpc.Errors;

/**
 * An extra process run in a container with {@code runc exec --detach} (containerd's exec). States:
 * CREATED (registered by ExecProcess) → RUNNING (StartContainer with its exec id) → EXITED (reaped,
 * or its start failed). Thread-safe.
 */
public final class ExecProcess implements ContainerProcess {

    /** Life-cycle states of an exec. */
    public enum State { CREATED, RUNNING, EXITED }

    /** Reported for an exec whose start failed: it never ran. */
    static final int START_FAILED_STATUS = 255;

    private final String containerId;
    private final String execId;
    private final Path dir;
    private final boolean terminal;
    private final ContainerStdio stdio;
    private final CompletableFuture<ExitStatus> exit = new CompletableFuture<>();
    private final CompletableFuture<ExitStatus> exitWithOutput;
    private State state = State.CREATED;
    private int pid;
    private long oomKillsAtStart;

    ExecProcess(String containerId, String execId, Path dir, boolean terminal, ContainerStdio stdio) {
        this.containerId = containerId;
        this.execId = execId;
        this.dir = dir;
        this.terminal = terminal;
        this.stdio = stdio;
        this.exitWithOutput = exit.thenCompose(status -> stdio.outputsDrained(OUTPUT_DRAIN)
                .thenApply(ignored -> status));
    }

    @Override
    public String containerId() {
        return containerId;
    }

    @Override
    public String execId() {
        return execId;
    }

    @Override
    public synchronized int pid() {
        return pid;
    }

    @Override
    public ContainerStdio stdio() {
        return stdio;
    }

    @Override
    public CompletableFuture<ExitStatus> exitWithOutput() {
        return exitWithOutput;
    }

    @Override
    public synchronized long oomKillsAtStart() {
        return oomKillsAtStart;
    }

    /**
     * EXITED as soon as the exit future is completed: derived rather than set by a dependent of that
     * future, because dependents run in no fixed order, so a waiter on {@link #exitWithOutput()} could
     * otherwise wake while the state still says RUNNING.
     */
    public synchronized State state() {
        return exit.isDone() ? State.EXITED : state;
    }

    /** The directory holding process.json, the pid file and the FIFOs. */
    Path dir() {
        return dir;
    }

    boolean terminal() {
        return terminal;
    }

    /** Completes when the process was reaped. */
    CompletableFuture<ExitStatus> exit() {
        return exit;
    }

    synchronized void markStarting(long oomKills) {
        if (state() != State.CREATED) {
            throw Errors.failedPrecondition("cannot start exec %s of container %s in state %s", execId, containerId,
                    state().name().toLowerCase());
        }
        state = State.RUNNING;
        oomKillsAtStart = oomKills;
    }

    synchronized void started(int startedPid) {
        pid = startedPid;
    }
}
