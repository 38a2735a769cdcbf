package io.javakata.shim.container;

import io.javakata.shim.agent.Agent;
import io.javakata.shim.sandbox.Sandbox;
import io.javakata.shim.stdio.StdioPaths;
import io.javakata.shim.stdio.StdioRelay;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.Lock;

/**
 * A process containerd addresses by (container id, exec id): a container's init ({@link Container})
 * or one of its execs ({@link ExecProcess}). Holds what both share: the {@link ProcessState}, the stdio
 * relay, the guest waiter and the exit future.
 *
 * <p>Thread-safety: all methods may be called from any thread; state changes happen under this
 * object's monitor, agent calls outside it except where ordering needs them inside (start).
 */
public abstract sealed class TaskProcess permits Container, ExecProcess {

    private static final System.Logger LOG = System.getLogger(TaskProcess.class.getName());
    /** Reported when the guest could not say how the process ended (VM or agent lost). */
    private static final int LOST_STATUS = 255;
    /**
     * How long the exit waits for the host side of the output (guest buffers to containerd's FIFOs)
     * after the guest reported it: at most the guest's 1 MiB per stream is left then.
     */
    public static final Duration RELAY_DRAIN = Duration.ofSeconds(5);

    protected final Sandbox sandbox;
    private final String containerId;
    private final String execId;
    private final StdioPaths stdio;
    private final StdioRelay relay;
    private final CompletableFuture<ExitStatus> exit = new CompletableFuture<>();
    private ProcessState state = ProcessState.CREATED;
    private ExitStatus exitStatus;

    TaskProcess(Sandbox sandbox, String containerId, String execId, StdioPaths stdio, StdioRelay relay) {
        this.sandbox = sandbox;
        this.containerId = containerId;
        this.execId = execId;
        this.stdio = stdio;
        this.relay = relay;
    }

    public String containerId() {
        return containerId;
    }

    /** "" for the init process. */
    public String execId() {
        return execId;
    }

    public StdioPaths stdio() {
        return stdio;
    }

    /** The pid reported to containerd. */
    public abstract long pid();

    public synchronized ProcessState state() {
        return state;
    }

    /** The exit status, or null while the process has not exited. */
    public synchronized ExitStatus exitStatus() {
        return exitStatus;
    }

    /** Completes with the exit status; the same answer for every caller. */
    public CompletableFuture<ExitStatus> awaitExit() {
        return exit;
    }

    /** "container c1" or "exec e1 of container c1", for messages. */
    public String describe() {
        return execId.isEmpty() ? "container " + containerId : "exec " + execId + " of container " + containerId;
    }

    /** Asks the guest to start the process; returns its guest pid. */
    abstract int startInGuest();

    /** Records what start returned (an exec's pid). */
    abstract void started(int guestPid);

    /** Removes the process from the guest and the host after Delete. */
    abstract void removeEverywhere();

    /**
     * Starts the process in the guest, then a waiter: WaitProcess, then the end of the stdout/stderr
     * relay, then, holding {@code eventLock}, the exit is recorded and {@code onExit} runs; only then
     * do {@link #awaitExit()} futures complete. The caller holds {@code eventLock} across this call
     * and its start event, and across Delete and its delete event, so events always go out as start,
     * exit, delete (runc shim, {@code task/service.go Start}, {@code handleInitExit}).
     */
    public void start(Lock eventLock, ExitListener onExit) {
        synchronized (this) {
            ProcessState next = state.next(ProcessState.Operation.START);
            try {
                started(startInGuest());
            } catch (RuntimeStatusException e) {
                throw e.withContext("start " + describe());
            }
            state = next;
        }
        Thread.ofVirtual().name("wait-" + containerId + (execId.isEmpty() ? "" : "-" + execId))
                .start(() -> awaitGuestExit(eventLock, onExit));
    }

    private void awaitGuestExit(Lock eventLock, ExitListener onExit) {
        ExitStatus status;
        boolean oomKilled = false;
        try {
            Agent.Exit exit = sandbox.agent().waitProcess(containerId, execId);
            status = new ExitStatus(exit.status() & 0xff, exit.exitedAt());
            oomKilled = exit.oomKilled();
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "wait for " + describe() + ": " + e.getMessage()
                    + "; reporting exit status " + LOST_STATUS);
            status = new ExitStatus(LOST_STATUS, Instant.now());
        }
        awaitRelay();
        eventLock.lock();
        try {
            synchronized (this) {
                if (state instanceof ProcessState.Running || state instanceof ProcessState.Paused) {
                    state = state.next(ProcessState.Operation.EXIT);
                    exitStatus = status;
                }
            }
            onExit.exited(status, oomKilled);
        } finally {
            eventLock.unlock();
            exit.complete(status);
        }
    }

    /**
     * The guest has seen the end of the output (or cut it off, {@code OUTPUT_DRAIN} after the exit):
     * wait until the host FIFOs got every byte too, but not forever. A reader that stopped reading
     * the FIFO must not keep the exit from containerd; the relay goes on writing after that.
     */
    private void awaitRelay() {
        try {
            relay.outputDone().get(RELAY_DRAIN.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            LOG.log(System.Logger.Level.WARNING, "the output of " + describe() + " is still being written to its FIFOs "
                    + RELAY_DRAIN.toSeconds() + " s after the exit; reporting the exit now");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException e) {
            LOG.log(System.Logger.Level.WARNING, "output of " + describe() + ": " + e.getCause());
        }
    }

    /** Sends {@code signal} to the process (or, for an init, to all of the container's processes). */
    public void kill(int signal, boolean all) {
        synchronized (this) {
            state.next(ProcessState.Operation.KILL);
        }
        try {
            sandbox.agent().signalProcess(containerId, execId, signal, all);
        } catch (RuntimeStatusException e) {
            if (sandbox.isDead()) {
                return; // the process ended with its VM; its exit is reported as lost
            }
            if (e.code() == Code.DEADLINE_EXCEEDED || e.code() == Code.UNAVAILABLE) {
                // An agent that cannot deliver a signal cannot run the pod either: stopping the VM is the kill.
                sandbox.declareDead("its agent did not deliver signal " + signal + " to " + describe() + ": "
                        + e.getMessage());
                return;
            }
            throw e.withContext("kill " + describe());
        }
    }

    /** CloseIO: the process's stdin reaches EOF. */
    public void closeStdin() {
        relay.closeStdin();
    }

    /** ResizePty: the guest sets the window size of the process's terminal (a no-op without one). */
    public void resizePty(int width, int height) {
        try {
            sandbox.agent().resizePty(containerId, execId, width, height);
        } catch (RuntimeStatusException e) {
            throw e.withContext("resize the terminal of " + describe());
        }
    }

    /**
     * Removes the process from the guest and the host. Refused while running; allowed for a process
     * created but never started.
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
        removeEverywhere();
        return result;
    }

    /** Applies {@code op} (pause, resume) around {@code action}, which runs under the monitor. */
    synchronized void transition(ProcessState.Operation op, Runnable action) {
        ProcessState next = state.next(op);
        action.run();
        state = next;
    }

    /** Checks that {@code op} is legal now, without changing state. */
    synchronized void check(ProcessState.Operation op) {
        state.next(op);
    }

    void closeRelay() {
        relay.close();
    }

    @Override
    public String toString() {
        return describe() + " (" + state().label() + ")";
    }
}
