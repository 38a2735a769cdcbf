package io.javakata.guest.container;

import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;

import io.javakata.guest.reaper.ExitStatus;
import io.javakata.guest.stdio.ContainerStdio;
import io.javakata.ttrpc.Errors;

/**
 * One container in the guest: its bundle, its init process and that process's stdio.
 *
 * <p>States: CREATED (runc create done, init waits on runc's exec FIFO) → RUNNING (runc start done)
 * → EXITED (init reaped). The exit may overtake start (init killed before start), which is why
 * {@link #markStarted()} refuses only an EXITED container that was never started after the fact.
 * Thread-safe.
 */
public final class Container {

    /** Life-cycle states of the init process. */
    public enum State { CREATED, RUNNING, EXITED }

    private final String id;
    private final Path bundle;
    private final int initPid;
    private final ContainerStdio stdio;
    private final CompletableFuture<ExitStatus> exit;
    private final AtomicReference<State> state = new AtomicReference<>(State.CREATED);

    Container(String id, Path bundle, int initPid, ContainerStdio stdio, CompletableFuture<ExitStatus> exit) {
        this.id = id;
        this.bundle = bundle;
        this.initPid = initPid;
        this.stdio = stdio;
        this.exit = exit;
        exit.thenRun(() -> state.set(State.EXITED));
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

    public ContainerStdio stdio() {
        return stdio;
    }

    public State state() {
        return state.get();
    }

    /** Completes when init was reaped. */
    public CompletableFuture<ExitStatus> exit() {
        return exit;
    }

    /**
     * Completes when init exited and its stdout and stderr reached end of stream, so the host has
     * every byte the process wrote once it learns about the exit.
     */
    public CompletableFuture<ExitStatus> exitWithOutput() {
        return exit.thenCombine(stdio.outputsDone(), (status, ignored) -> status);
    }

    void markStarted() {
        if (!state.compareAndSet(State.CREATED, State.RUNNING)) {
            throw Errors.failedPrecondition("cannot start container %s in state %s", id,
                    state.get().name().toLowerCase());
        }
    }
}
