package io.javakata.it;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.UnaryOperator;
import io.javakata.it.cri.v1.ContainerState;

/**
 * The density figures of docs/benchmarks.md, run by scripts/bench-density.sh (not a test): idle pods (one busybox
 * container each that prints a line and sleeps) started through CRI one after another on one private containerd, all
 * kept running (RunPodSandbox with the 180 s deadline of {@link PrivateCri#runPod}, the whole start within
 * {@link #POD_DEADLINE}). Per pod: RunPodSandbox → the container's first log line, the host's MemAvailable and load average
 * after it, how many of the pods started so far still have their container running (a pod declared dead by its
 * shim's watchdog, say, has not), and the memory (RSS/PSS) of all pods' shims, QEMUs and virtiofsds together. It
 * stops at COUNT pods, when a
 * start fails or times out, when MemAvailable falls under {@value #MIN_AVAILABLE_MIB} MiB, or when the time budget is
 * spent; then it tears every pod down (as the kubelet would, a few at a time), and checks that nothing is left: no
 * shim, QEMU, virtiofsd or vsock backend, no mount, sandbox state, pod network namespace (which takes the pod's tap
 * with it) or veth ({@link PrivateContainerd#leaks()}), no pod cgroup ({@link PrivateCri#stop}).
 *
 * <p>Usage: {@code DensityBench COUNT HANDLER BUDGET_SECONDS}; prints one line per pod as it goes, then a summary.
 */
public final class DensityBench {

    static final long MIN_AVAILABLE_MIB = 2048;
    /** What one pod's start may take before the run stops (RunPodSandbox, create, start and the first line). */
    static final Duration POD_DEADLINE = Duration.ofSeconds(300);
    private static final int TEARDOWN_THREADS = 4;

    private DensityBench() {
    }

    public static void main(String[] args) throws Exception {
        int count = Integer.parseInt(args[0]);
        String handler = args[1];
        Duration budget = Duration.ofSeconds(Long.parseLong(args[2]));
        var cri = new PrivateCri();
        cri.beforeAll(null);
        var pods = new ArrayList<Pod>();
        var starts = new ArrayList<Long>();
        long availableBefore = HostFigures.memAvailableKib();
        long availableAfter = availableBefore;
        String stopped = "COUNT reached";
        AssertionError leakCheck = null;
        List<String> leaks = List.of();
        long teardownMs = 0;
        long podsPss = 0;
        System.out.printf(Locale.ROOT, "before: MemAvailable %d MiB, load %s%n", availableBefore / 1024, HostFigures.load());
        System.out.println("pod start_ms mem_available_mib load running shims_rss/pss_mib qemus_rss/pss_mib virtiofsds_rss/pss_mib");
        int running = 0;
        long runStart = System.nanoTime();
        try {
            for (int n = 1; n <= count; n++) {
                if (HostFigures.memAvailableKib() / 1024 < MIN_AVAILABLE_MIB) {
                    stopped = "MemAvailable under " + MIN_AVAILABLE_MIB + " MiB";
                    break;
                }
                if (System.nanoTime() - runStart > budget.toNanos()) {
                    stopped = "time budget of " + budget.toSeconds() + " s spent";
                    break;
                }
                long start = System.nanoTime();
                try {
                    Pod pod = cri.runPod(cri.podConfig("density-" + n, UnaryOperator.identity()), handler);
                    pods.add(pod);
                    pod.run("idle", "sh", "-c", "echo ready; exec sleep 86400");
                    Duration left = POD_DEADLINE.minusNanos(System.nanoTime() - start);
                    pod.awaitLog("idle", l -> l.endsWith(" stdout F ready"), left.isNegative() ? Duration.ZERO : left);
                } catch (RuntimeException | AssertionError e) {
                    stopped = String.format(Locale.ROOT, "pod %d did not start (after %d s): %s", n,
                            (System.nanoTime() - start) / 1_000_000_000, e.getMessage());
                    break;
                }
                long startMs = (System.nanoTime() - start) / 1_000_000;
                starts.add(startMs);
                availableAfter = HostFigures.memAvailableKib();
                var containerd = cri.containerd();
                var shims = HostFigures.memory(containerd.processes("javakata-shim"));
                var qemus = HostFigures.memory(CriBench.program(containerd, "qemu-system-x86_64"));
                var virtiofsds = HostFigures.memory(CriBench.program(containerd, "virtiofsd"));
                podsPss = shims.pssKib() + qemus.pssKib() + virtiofsds.pssKib();
                running = running(pods);
                System.out.printf(Locale.ROOT, "%d %d %d %s %d %s %s %s%n", n, startMs, availableAfter / 1024,
                        HostFigures.load(), running, shims, qemus, virtiofsds);
            }
        } finally {
            long teardownStart = System.nanoTime();
            List<String> failures = closeAll(pods);
            teardownMs = (System.nanoTime() - teardownStart) / 1_000_000;
            leaks = new ArrayList<>(cri.containerd().leaksAfter(Duration.ofSeconds(30)));
            leaks.addAll(failures);
            try {
                cri.afterAll(null);
            } catch (AssertionError e) {
                leakCheck = e;
            }
        }
        int started = starts.size();
        System.out.printf(Locale.ROOT, "pods started: %d of %d asked, %d of them running at the end; stopped: %s%n",
                started, count, running, stopped);
        System.out.println("start ms, median (min–max): " + HostFigures.spread(starts)
                + (started >= 10 ? "; first 5: " + HostFigures.spread(starts.subList(0, 5)) + "; last 5: "
                        + HostFigures.spread(starts.subList(started - 5, started)) : ""));
        if (started > 0) {
            long perPodKib = (availableBefore - availableAfter) / started;
            System.out.printf(Locale.ROOT, "MemAvailable: %d MiB before, %d MiB with %d pods: %d MiB per pod (other work on "
                    + "the host moves this too); the pods' shims, QEMUs and virtiofsds: %d MiB PSS, %d MiB per pod%n",
                    availableBefore / 1024, availableAfter / 1024, started, perPodKib / 1024, podsPss / 1024, podsPss / 1024 / started);
            long room = Math.max(0, availableAfter - MIN_AVAILABLE_MIB * 1024);
            for (long perPod : List.of(perPodKib, podsPss / started)) {
                if (perPod > 0) {
                    System.out.printf(Locale.ROOT, "extrapolation (memory only, not measured) at %d MiB per pod: %d pods "
                            + "more before MemAvailable reaches %d MiB, %d in all%n", perPod / 1024, room / perPod,
                            MIN_AVAILABLE_MIB, started + room / perPod);
                }
            }
        }
        System.out.printf(Locale.ROOT, "teardown of %d pods: %d ms; left behind: %s%n", pods.size(), teardownMs,
                leaks.isEmpty() && leakCheck == null ? "nothing" : String.join("; ", leaks) + (leakCheck == null ? "" : "; " + leakCheck.getMessage()));
        if (!leaks.isEmpty() || leakCheck != null) {
            System.exit(1);
        }
    }

    /** How many of {@code pods} have their "idle" container running (CRI ContainerStatus). */
    private static int running(List<Pod> pods) {
        int running = 0;
        for (Pod pod : pods) {
            try {
                if (pod.containerStatus(pod.containerIdOf("idle")).getState() == ContainerState.CONTAINER_RUNNING) {
                    running++;
                }
            } catch (RuntimeException | AssertionError e) {
                // not running, as far as CRI can tell
            }
        }
        return running;
    }

    /** Tears {@code pods} down, {@value #TEARDOWN_THREADS} at a time; what failed, one line each. */
    private static List<String> closeAll(List<Pod> pods) throws InterruptedException {
        var failures = new ArrayList<String>();
        try (ExecutorService pool = Executors.newFixedThreadPool(TEARDOWN_THREADS)) {
            var closing = new ArrayList<Future<?>>();
            for (Pod pod : pods) {
                closing.add(pool.submit(pod::close));
            }
            for (int i = 0; i < closing.size(); i++) {
                try {
                    closing.get(i).get();
                } catch (java.util.concurrent.ExecutionException e) {
                    failures.add("teardown of pod " + pods.get(i).id() + ": " + e.getCause());
                }
            }
        }
        return failures;
    }
}
