package io.javakata.shim.sandbox;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.javakata.hypervisor.Hypervisor;
import io.javakata.hypervisor.SchedStat;
import io.javakata.shim.agent.Agent;
import io.javakata.ttrpc.Errors;
import java.lang.reflect.Proxy;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The watchdog's verdict on a silent agent, against how the VMM ran and waited for a CPU meanwhile. */
@Timeout(30)
class PodWatchdogTest {

    private static final Duration PERIOD = Duration.ofMillis(50);
    private static final Duration CHECK_TIMEOUT = Duration.ofMillis(50);
    private static final Duration UNRESPONSIVE = Duration.ofMillis(600);
    private static final Duration STARVED_LIMIT = Duration.ofMillis(2500);

    /** A VMM whose processes run on; its agent answers no Check. */
    private static Hypervisor runningVmm() {
        CompletableFuture<Integer> never = new CompletableFuture<>();
        CompletableFuture<String> noBackendExit = new CompletableFuture<>();
        return (Hypervisor) Proxy.newProxyInstance(Hypervisor.class.getClassLoader(), new Class<?>[] {Hypervisor.class},
                (proxy, method, args) -> switch (method.getName()) {
                    case "onExit" -> never;
                    case "onBackendExit" -> noBackendExit;
                    case "pid" -> 4242L;
                    default -> throw new UnsupportedOperationException(method.getName());
                });
    }

    private static Agent silentAgent() {
        return (Agent) Proxy.newProxyInstance(Agent.class.getClassLoader(), new Class<?>[] {Agent.class},
                (proxy, method, args) -> {
                    if (method.getName().equals("check")) {
                        Thread.sleep(((Duration) args[0]).toMillis());
                        throw Errors.deadlineExceeded("Check: no answer within %s", args[0]);
                    }
                    throw new UnsupportedOperationException(method.getName());
                });
    }

    /** A VMM that, since this was made, ran {@code runShare} and waited {@code waitShare} of the time passed. */
    private static Supplier<Optional<SchedStat>> vmm(double runShare, double waitShare) {
        long origin = System.nanoTime();
        return () -> {
            long passed = System.nanoTime() - origin;
            return Optional.of(new SchedStat(Duration.ofNanos((long) (passed * runShare)),
                    Duration.ofNanos((long) (passed * waitShare))));
        };
    }

    /** Starts a watchdog and returns the time to its verdict (or fails after {@code within}). */
    private static Verdict watch(Supplier<Optional<SchedStat>> sched, Duration within) throws Exception {
        CompletableFuture<String> dead = new CompletableFuture<>();
        long started = System.nanoTime();
        try (PodWatchdog watchdog = PodWatchdog.start(new PodWatchdog("pod", runningVmm(), silentAgent(),
                dead::complete, PERIOD, CHECK_TIMEOUT, UNRESPONSIVE, STARVED_LIMIT, sched))) {
            String why = dead.get(within.toMillis(), TimeUnit.MILLISECONDS);
            return new Verdict(why, Duration.ofNanos(System.nanoTime() - started));
        }
    }

    private record Verdict(String why, Duration after) {
    }

    @Test
    void aVmmStoppedBySignalNeitherRunsNorWaitsAndItsPodIsDeadAfterTheSilence() throws Exception {
        Verdict v = watch(vmm(0, 0), Duration.ofSeconds(10));
        assertTrue(v.after().compareTo(UNRESPONSIVE) >= 0 && v.after().compareTo(STARVED_LIMIT) < 0, v.toString());
        assertTrue(v.why().startsWith("its agent has answered no Check for "), v.why());
        assertTrue(v.why().endsWith("; its VMM ran 0 ms and waited 0 ms for a CPU meanwhile"), v.why());
    }

    @Test
    void aGuestSpinningOnItsCpuIsDeadAfterTheSilence() throws Exception {
        Verdict v = watch(vmm(0.95, 0.02), Duration.ofSeconds(10));
        assertTrue(v.after().compareTo(STARVED_LIMIT) < 0, v.toString());
    }

    @Test
    void aGuestTheHostStarvesOfCpuIsGivenUpToTheStarvedLimit() throws Exception {
        Verdict v = watch(vmm(0.05, 0.9), Duration.ofSeconds(10));
        assertTrue(v.after().compareTo(STARVED_LIMIT) >= 0, "declared dead after only " + v.after());
        assertTrue(v.why().contains("its VMM ran ") && v.why().contains(" ms for a CPU meanwhile"), v.why());
    }

    @Test
    void aVmmStoppedAfterAStarvedSpellIsDeadOnceItStopped() throws Exception {
        long origin = System.nanoTime();
        long stopAt = STARVED_LIMIT.toNanos() / 2;
        Supplier<Optional<SchedStat>> starvedThenStopped = () -> {
            long passed = Math.min(System.nanoTime() - origin, stopAt); // neither runs nor waits once stopped
            return Optional.of(new SchedStat(Duration.ofNanos(passed / 20), Duration.ofNanos(passed * 9 / 10)));
        };
        Verdict v = watch(starvedThenStopped, Duration.ofSeconds(10));
        assertTrue(v.after().compareTo(Duration.ofNanos(stopAt)) >= 0, "dead while still starved: " + v);
        assertTrue(v.after().compareTo(STARVED_LIMIT) < 0, "dead only at the starved limit: " + v);
    }

    @Test
    void withoutSchedulingFiguresTheSilenceAloneDecides() throws Exception {
        Verdict v = watch(Optional::empty, Duration.ofSeconds(10));
        assertTrue(v.after().compareTo(STARVED_LIMIT) < 0, v.toString());
        assertFalse(v.why().contains("VMM ran"), v.why());
    }

    @Test
    void starvedMeansWaitingLongerThanRunningAndForAQuarterOfTheSilence() {
        Duration silence = Duration.ofSeconds(16);
        assertTrue(PodWatchdog.starved(new SchedStat(Duration.ofMillis(300), Duration.ofSeconds(6)), silence));
        assertTrue(PodWatchdog.starved(new SchedStat(Duration.ZERO, Duration.ofSeconds(4)), silence));
        assertFalse(PodWatchdog.starved(new SchedStat(Duration.ZERO, Duration.ofMillis(3999)), silence),
                "waited, but for less than a quarter of the silence");
        assertFalse(PodWatchdog.starved(new SchedStat(Duration.ofSeconds(8), Duration.ofSeconds(6)), silence),
                "ran longer than it waited: a busy guest, not a starved one");
        assertFalse(PodWatchdog.starved(new SchedStat(Duration.ZERO, Duration.ZERO), silence), "stopped");
    }
}
