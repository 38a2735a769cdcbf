package io.javakata.shim.sandbox;

import io.javakata.hypervisor.AgentEndpoint;
import io.javakata.hypervisor.Hypervisor;
import io.javakata.hypervisor.SchedStat;
import io.javakata.hypervisor.VmEnd;
import io.javakata.shim.agent.AgentDialer;
import io.javakata.ttrpc.transport.Connection;
import java.io.IOException;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

/**
 * Ends a pod's boot as soon as its VM can no longer answer: the VMM exited (a guest kernel panic ends QEMU under
 * {@code -no-reboot}, and so does a kill), a backend the guest depends on did, or the VMM has not been on a CPU, nor
 * waited for one, for {@link #FROZEN} (stopped by SIGSTOP, or frozen: a booting guest always has work, and even an
 * idle one takes its timer's interrupts). Without it, a boot whose VM is gone waits out the whole boot timeout: a
 * hybrid vsock backend keeps accepting connections for a guest that no longer exists and never answers their CONNECT,
 * and an agent connection through it is never closed.
 *
 * <p>When the VM ends while the watch is open, the dial gives up at once and the agent connection it was given is
 * closed, so that a Check or an InitGuest in flight fails at once; {@link #reason()} then says why. {@link #close()}
 * ends the watch when the pod is up and its {@link PodWatchdog} takes over (or the template is saved). Thread-safe.
 */
final class BootWatch implements AutoCloseable {

    /** How long a VMM may go without running or waiting to run before the boot counts it as stopped. */
    static final Duration FROZEN = Duration.ofSeconds(15);
    /** How often the VMM's scheduling statistics are read during the boot. */
    static final Duration SAMPLE = Duration.ofSeconds(1);

    private final Hypervisor hypervisor;
    private final CompletableFuture<String> ended = new CompletableFuture<>();
    private final Thread sampler;
    private AutoCloseable agent;
    private boolean closed;

    BootWatch(Hypervisor hypervisor) {
        this(hypervisor, hypervisor::vmmSchedStat, FROZEN, SAMPLE);
    }

    /** For tests: the VMM's scheduling read from {@code schedStat}, stopped after {@code frozen} without a change. */
    BootWatch(Hypervisor hypervisor, Supplier<Optional<SchedStat>> schedStat, Duration frozen, Duration sample) {
        this.hypervisor = hypervisor;
        VmEnd.watch(hypervisor).thenAccept(ended::complete);
        ended.whenComplete((v, e) -> closeAgent());
        sampler = Thread.ofVirtual().name("boot-watch").start(() -> watchScheduling(schedStat, frozen, sample));
    }

    /**
     * Reads the VMM's time on a CPU and waiting for one every {@code sample}; when neither has changed for
     * {@code frozen}, the VM has ended for the boot. Gives no verdict when the statistics cannot be read.
     */
    private void watchScheduling(Supplier<Optional<SchedStat>> schedStat, Duration frozen, Duration sample) {
        Optional<SchedStat> last = schedStat.get();
        long changed = System.nanoTime();
        while (last.isPresent() && !ended.isDone()) {
            try {
                Thread.sleep(sample);
            } catch (InterruptedException e) {
                return; // closed
            }
            Optional<SchedStat> now = schedStat.get();
            if (now.isEmpty()) {
                return; // the VMM is gone, which its exit reports
            }
            if (!now.equals(last)) {
                last = now;
                changed = System.nanoTime();
            } else if (System.nanoTime() - changed >= frozen.toNanos()) {
                ended.complete("its VMM (pid " + hypervisor.pid() + ") stopped running (neither on a CPU nor "
                        + "waiting for one for " + frozen.toSeconds() + " s: stopped by a signal, or frozen)");
            }
        }
    }

    /** Why the VM can no longer answer, once it cannot: its VMM or a backend ended ({@link VmEnd}), or it froze. */
    Optional<String> reason() {
        return Optional.ofNullable(ended.getNow(null));
    }

    /**
     * {@link #reason()} for a boot that failed: when a process of the VM has exited but which one was the cause is not
     * settled yet (a backend's exit waits up to {@link VmEnd#GRACE} for its VMM's), waits for it, a little longer than
     * that at most. A VM whose processes all run costs no wait.
     */
    Optional<String> settledReason() {
        if (!ended.isDone() && (hypervisor.onExit().isDone() || hypervisor.onBackendExit().isDone())) {
            try {
                ended.get(VmEnd.GRACE.plusSeconds(1).toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (ExecutionException | TimeoutException e) {
                // reported as not known
            }
        }
        return reason();
    }

    /**
     * Dials the agent, as {@code dialer} does within {@code timeout}, once the hypervisor says its channel may be
     * opened ({@link Hypervisor#awaitAgentChannel}), but gives up at once when the VM ends meanwhile
     * ({@link AgentDialer#dial}); {@link #settledReason()} then says why.
     */
    Connection dial(AgentDialer dialer, AgentEndpoint endpoint, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        hypervisor.awaitAgentChannel(timeout, ended);
        return dialer.dial(endpoint, Duration.ofNanos(Math.max(0, deadline - System.nanoTime())), ended);
    }

    /** Closes {@code agent} as soon as the VM ends while the watch is open (at once if it has ended already). */
    void closeOnEnd(AutoCloseable agent) {
        boolean endedAlready;
        synchronized (this) {
            if (closed) {
                return;
            }
            this.agent = agent;
            endedAlready = ended.isDone();
        }
        if (endedAlready) {
            closeAgent();
        }
    }

    private void closeAgent() {
        AutoCloseable toClose;
        synchronized (this) {
            if (closed) {
                return;
            }
            toClose = agent;
            agent = null;
        }
        if (toClose != null) {
            closeQuietly(toClose);
        }
    }

    /** Ends the watch: the VM ending from now on is the pod watchdog's to report. */
    @Override
    public void close() {
        synchronized (this) {
            closed = true;
            agent = null;
        }
        sampler.interrupt();
    }

    private static void closeQuietly(AutoCloseable closeable) {
        try {
            closeable.close();
        } catch (Exception ignored) {
            // The VM is gone: nothing more to do with this connection.
        }
    }
}
