package io.javakata.guest.container;

import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;

import io.javakata.guest.reaper.ExitStatus;
import io.javakata.guest.stdio.ContainerStdio;
import io.javakata.sys.ErrnoException;
import io.javakata.sys.Signals;
import io.javakata.ttrpc.Errors;
import io.javakata.ttrpc.RuntimeStatusException;

/**
 * A process of a container the host can wait on and talk to: its init ({@link Container}) or one of its execs
 * ({@link ExecProcess}). Holds what both share: the {@link ProcessState}, the pid, the stdio and the exit.
 *
 * <p>Every change of state goes through {@link #apply}, under this object's monitor, and so through the one
 * table, {@link ProcessState#next}. The exit is the reaper completing {@link #exit()}; the state reads it from
 * that future rather than from a dependent of it, because dependents run in no fixed order, so a waiter on
 * {@link #exitWithOutput()} could otherwise wake while the state still says running.
 *
 * <p>Thread-safe.
 */
public abstract sealed class ContainerProcess permits Container, ExecProcess {

    /**
     * How long the output of a process that is gone may stay open (held by a descendant) before the
     * exit is reported without waiting for its end ({@link ContainerStdio#outputsDrained}).
     */
    public static final Duration OUTPUT_DRAIN = Duration.ofSeconds(2);

    /** Reported for an exec whose start failed: it never ran. */
    static final int START_FAILED_STATUS = 255;

    private static final int ESRCH = 3;

    private final String containerId;
    private final String execId;
    private final ContainerStdio stdio;
    private final CompletableFuture<ExitStatus> exit = new CompletableFuture<>();
    private final CompletableFuture<ExitStatus> exitWithOutput;
    private ProcessState state;
    private int pid;
    private long oomKillsAtStart;

    ContainerProcess(String containerId, String execId, ContainerStdio stdio, ProcessState initial, int pid,
                     long oomKillsAtStart) {
        this.containerId = containerId;
        this.execId = execId;
        this.stdio = stdio;
        this.state = initial;
        this.pid = pid;
        this.oomKillsAtStart = oomKillsAtStart;
        this.exitWithOutput = exit.thenCompose(status -> stdio.outputsDrained(OUTPUT_DRAIN)
                .thenApply(ignored -> status));
    }

    public String containerId() {
        return containerId;
    }

    /** "" for the init process. */
    public String execId() {
        return execId;
    }

    /** The pid in the guest; 0 for an exec not started yet. */
    public synchronized int pid() {
        return pid;
    }

    public ContainerStdio stdio() {
        return stdio;
    }

    /** The container cgroup's {@code memory.events oom_kill} when this process started. */
    public synchronized long oomKillsAtStart() {
        return oomKillsAtStart;
    }

    /** The state, the exit applied as soon as the reaper reported it. */
    public synchronized ProcessState state() {
        if (exit.isDone()) {
            state = state.next(ProcessState.Event.EXIT);
        }
        return state;
    }

    /** "container c1" or "exec e1 of container c1", for messages. */
    public String describe() {
        return execId.isEmpty() ? "container " + containerId : "exec " + execId + " of container " + containerId;
    }

    /** Completes when the process was reaped (or, for an exec, its start failed). */
    public CompletableFuture<ExitStatus> exit() {
        return exit;
    }

    /**
     * Completes when the process exited and its stdout and stderr reached end of stream, so the host
     * has every byte it wrote once it learns about the exit; or, when a descendant keeps them open,
     * {@link #OUTPUT_DRAIN} after the exit, with every byte that arrived until then. The same future
     * for every caller.
     */
    public CompletableFuture<ExitStatus> exitWithOutput() {
        return exitWithOutput;
    }

    /**
     * Applies {@code event}: the next state, or the table's refusal with {@code context} before it ("start
     * container c1: cannot start a process that is running").
     */
    synchronized ProcessState apply(ProcessState.Event event, String context) {
        try {
            state = state().next(event);
        } catch (RuntimeStatusException refused) {
            throw new RuntimeStatusException(refused.code(), context + ": " + refused.getMessage());
        }
        return state;
    }

    /** {@link #apply} with "VERB container c1" (or "VERB exec e1 of container c1") as the context. */
    ProcessState apply(ProcessState.Event event) {
        return apply(event, event.verb() + " " + describe());
    }

    /** START: records the container's OOM kill count, which WaitProcess compares with the count at the exit. */
    synchronized ProcessState start(long oomKills) {
        ProcessState next = apply(ProcessState.Event.START);
        oomKillsAtStart = oomKills;
        return next;
    }

    /** The process exits when {@code reaped} completes; the first exit reported wins. */
    void exitsWith(CompletableFuture<ExitStatus> reaped) {
        reaped.whenComplete((status, failure) -> {
            if (failure != null) {
                exit.completeExceptionally(failure);
            } else {
                exit.complete(status);
            }
        });
    }

    /** The start failed: the process never ran, and exits with {@link #START_FAILED_STATUS}. */
    void startFailed() {
        exit.complete(new ExitStatus(START_FAILED_STATUS, Instant.now()));
    }

    /** STARTED: the runtime ran the process as {@code startedPid}. */
    synchronized void started(int startedPid) {
        apply(ProcessState.Event.STARTED);
        pid = startedPid;
    }

    /**
     * Sends {@code signal} to the process: NOT_FOUND when it has not started or has exited, which includes
     * the kernel's ESRCH (it exited since the state was read).
     */
    void signal(int signal) {
        String context = "signal " + signal + " to " + describe();
        int target;
        synchronized (this) {
            apply(ProcessState.Event.SIGNAL, context);
            target = pid;
        }
        try {
            Signals.kill(target, signal);
        } catch (ErrnoException e) {
            if (e.errno() == ESRCH) {
                throw Errors.notFound("%s: process already finished", context);
            }
            throw Errors.unknown(e, context);
        }
    }
}
