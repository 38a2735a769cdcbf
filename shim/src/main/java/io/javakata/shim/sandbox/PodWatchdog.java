package io.javakata.shim.sandbox;

import io.javakata.hypervisor.Hypervisor;
import io.javakata.hypervisor.SchedStat;
import io.javakata.hypervisor.VmEnd;
import io.javakata.shim.agent.Agent;
import io.javakata.ttrpc.RuntimeStatusException;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * Declares a pod dead when it can no longer run anything, so that its containers are reported EXITED
 * and CRI can stop and remove it instead of waiting on a VM that will never answer:
 * <ul>
 *   <li>the VMM exited (at once), or a backend the guest depends on did: virtiofsd, the vsock backend
 *       ({@link Hypervisor#onBackendExit()}; {@link VmEnd} says which was the cause);</li>
 *   <li>the agent has answered no {@code Check} for {@link #UNRESPONSIVE}: a frozen guest (QMP {@code stop}),
 *       a hung agent, a guest kernel that no longer schedules it. A check is sent every {@link #PERIOD} (every
 *       {@link #RETRY_PERIOD} once one failed) with a deadline of {@link #CHECK_TIMEOUT}, so a dead pod is
 *       noticed within about {@code UNRESPONSIVE + CHECK_TIMEOUT} (20 s), while a guest slowed down for a few
 *       seconds (TCG on a loaded host) is not mistaken for a dead one. Nor is a guest the host starves of CPU:
 *       when the VMM's threads spent the silence mostly waiting for a CPU ({@link #starved}: they waited longer than
 *       they ran, and at least a quarter of the silence; {@link SchedStat}), and still do since the last failed
 *       check, the verdict waits, up to
 *       {@link #STARVED_LIMIT} of silence. A VMM stopped by a signal or a paused guest neither runs nor waits, and a
 *       guest spinning in a hung kernel runs: both are still declared dead after {@link #UNRESPONSIVE}. In a density
 *       run at a load of 30 to 70 on 2 cores, 16 of 98 idle pods were declared dead after 15 s of silence although
 *       their guests were only starved (docs/benchmarks.md, "Density").</li>
 * </ul>
 * The verdict is given once, to {@code onDead}, with a sentence naming the cause. Each check wakes an idle guest
 * (under TCG every wake-up is emulated, and idle pods' CPU is what bounds how many a host holds): every 2 s the checks
 * and the long polls ({@code TtrpcAgent.LONG_POLL}) kept an idle pod's QEMU at 87-99 wake-ups a second, every 5 s
 * (and 30 s polls) at 70-77 (docs/benchmarks.md, "An idle pod's CPU"); a dead guest is still noticed within the same
 * ~20 s, since the silence decides, and a failed check is retried every {@link #RETRY_PERIOD}.
 *
 * <p>One virtual thread per pod; {@link #close()} ends it (within one check's deadline at most).
 */
final class PodWatchdog implements AutoCloseable {

    static final Duration PERIOD = Duration.ofSeconds(5);
    /** The period once a check has failed, so that the verdict comes soon after {@link #UNRESPONSIVE} of silence. */
    static final Duration RETRY_PERIOD = Duration.ofSeconds(2);
    static final Duration CHECK_TIMEOUT = Duration.ofSeconds(5);
    /*
     * 6 s (with a 3 s deadline) was too short for a TCG guest on a host running several VMs at a load of 8 to 16
     * on 2 cores: pods being created were declared dead ("connection to agent.sock closed") while runc ran.
     */
    static final Duration UNRESPONSIVE = Duration.ofSeconds(15);
    /** The longest silence a starved guest is granted before it is declared dead all the same. */
    static final Duration STARVED_LIMIT = Duration.ofSeconds(120);

    private static final System.Logger LOG = System.getLogger(PodWatchdog.class.getName());

    private final String sandboxId;
    private final Hypervisor hypervisor;
    private final Agent agent;
    private final Consumer<String> onDead;
    private final Duration period;
    private final Duration checkTimeout;
    private final Duration unresponsive;
    private final Duration starvedLimit;
    private final Supplier<Optional<SchedStat>> vmmSched;
    private final Thread thread;
    private volatile boolean closed;

    PodWatchdog(String sandboxId, Hypervisor hypervisor, Agent agent, Consumer<String> onDead,
                Duration period, Duration checkTimeout, Duration unresponsive) {
        this(sandboxId, hypervisor, agent, onDead, period, checkTimeout, unresponsive, STARVED_LIMIT,
                hypervisor::vmmSchedStat);
    }

    PodWatchdog(String sandboxId, Hypervisor hypervisor, Agent agent, Consumer<String> onDead,
                Duration period, Duration checkTimeout, Duration unresponsive, Duration starvedLimit,
                Supplier<Optional<SchedStat>> vmmSched) {
        this.sandboxId = sandboxId;
        this.hypervisor = hypervisor;
        this.agent = agent;
        this.onDead = onDead;
        this.period = period;
        this.checkTimeout = checkTimeout;
        this.unresponsive = unresponsive;
        this.starvedLimit = starvedLimit;
        this.vmmSched = vmmSched;
        this.thread = Thread.ofVirtual().name("watchdog-" + sandboxId).unstarted(this::watch);
    }

    /** Starts watching with the production timings. */
    static PodWatchdog start(String sandboxId, Hypervisor hypervisor, Agent agent, Consumer<String> onDead) {
        return start(new PodWatchdog(sandboxId, hypervisor, agent, onDead, PERIOD, CHECK_TIMEOUT, UNRESPONSIVE));
    }

    static PodWatchdog start(PodWatchdog watchdog) {
        watchdog.thread.start();
        return watchdog;
    }

    private void watch() {
        CompletableFuture<String> processEnded = VmEnd.watch(hypervisor);
        long lastAnswer = System.nanoTime();
        Optional<SchedStat> atLastAnswer = vmmSched.get();
        long lastSampled = lastAnswer;
        Optional<SchedStat> atLastSample = atLastAnswer;
        boolean starvedLogged = false;
        while (!closed) {
            long round = System.nanoTime();
            boolean failed = false;
            String verdict = processEnded.getNow(null);
            if (verdict == null) {
                try {
                    agent.check(checkTimeout);
                    lastAnswer = System.nanoTime();
                    atLastAnswer = vmmSched.get();
                    lastSampled = lastAnswer;
                    atLastSample = atLastAnswer;
                    starvedLogged = false;
                } catch (RuntimeStatusException e) {
                    failed = true;
                    Duration silent = Duration.ofNanos(System.nanoTime() - lastAnswer);
                    verdict = processEnded.getNow(null);
                    long sampled = System.nanoTime();
                    Optional<SchedStat> now = vmmSched.get();
                    Duration sinceSample = Duration.ofNanos(sampled - lastSampled);
                    Optional<SchedStat> during = added(atLastAnswer, now);
                    Optional<SchedStat> lately = added(atLastSample, now);
                    lastSampled = sampled;
                    atLastSample = now;
                    if (verdict == null && !closed && silent.compareTo(unresponsive) >= 0) {
                        String sched = during.map(d -> "; its VMM ran " + d.onCpu().toMillis() + " ms and waited "
                                + d.waiting().toMillis() + " ms for a CPU meanwhile").orElse("");
                        // Starved over the whole silence and still now: a VMM stopped after a starved spell is dead.
                        boolean starved = during.isPresent() && lately.isPresent() && starved(during.get(), silent)
                                && starved(lately.get(), sinceSample);
                        if (starved && silent.compareTo(starvedLimit) < 0) {
                            if (!starvedLogged) {
                                LOG.log(System.Logger.Level.WARNING, "sandbox {0}: its agent has answered no Check for "
                                        + "{1} ms{2}: the host is short of CPU, the guest is not taken for dead before "
                                        + "{3} s of silence", sandboxId, String.valueOf(silent.toMillis()), sched,
                                        String.valueOf(starvedLimit.toSeconds()));
                                starvedLogged = true;
                            }
                        } else {
                            verdict = "its agent has answered no Check for " + silent.toMillis() + " ms (last error: "
                                    + e.getMessage() + ")" + sched;
                        }
                    } else if (verdict == null && !closed) {
                        LOG.log(System.Logger.Level.WARNING, "sandbox {0}: agent Check failed after {1} ms of silence: {2}",
                                sandboxId, String.valueOf(silent.toMillis()), e.getMessage());
                    }
                }
            }
            if (verdict != null) {
                if (!closed) {
                    onDead.accept(verdict);
                }
                return;
            }
            Duration next = failed && RETRY_PERIOD.compareTo(period) < 0 ? RETRY_PERIOD : period;
            Duration pause = next.minus(Duration.ofNanos(System.nanoTime() - round));
            if (pause.isPositive()) {
                try {
                    processEnded.get(pause.toMillis(), TimeUnit.MILLISECONDS);
                } catch (TimeoutException | ExecutionException e) {
                    // a round is due, or the VM failed to start (it is being stopped)
                } catch (InterruptedException e) {
                    return;
                }
            }
        }
    }

    /** What {@code now} added to {@code then}; empty if either is unknown. */
    private static Optional<SchedStat> added(Optional<SchedStat> then, Optional<SchedStat> now) {
        return then.isPresent() && now.isPresent() ? Optional.of(now.get().since(then.get())) : Optional.empty();
    }

    /**
     * Whether a VMM that ran and waited as {@code during} shows over {@code silence} was starved of CPU by the host: it
     * waited for a CPU longer than it ran, and for at least a quarter of the silence.
     */
    static boolean starved(SchedStat during, Duration silence) {
        return during.waiting().compareTo(during.onCpu()) > 0
                && during.waiting().compareTo(silence.dividedBy(4)) >= 0;
    }

    /** Stops watching: an orderly stop is not a death. Idempotent. */
    @Override
    public void close() {
        closed = true;
        thread.interrupt();
    }
}
