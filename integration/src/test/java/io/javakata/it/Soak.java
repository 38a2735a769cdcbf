package io.javakata.it;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

import io.javakata.it.cri.v1.ListContainersRequest;
import io.javakata.it.cri.v1.ListPodSandboxRequest;

/**
 * The soak of issue 8 item 7: pods one after another, then a wave of pods at once, each through {@link SoakPod}
 * (a container, ExecSync, StopPodSandbox, RemovePodSandbox, no leftover of its own); then the host is compared with
 * how it was before: no process, zombie, mount, sandbox state, shim socket, pod network namespace, veth or pod cgroup
 * more, and containerd's open descriptors back to their count before the first pod.
 *
 * <p>Run by scripts/soak.sh ({@link #main}: {@code Soak SEQUENTIAL CONCURRENT}) and, short, by {@link SoakIT}.
 * Settings ({@code -D}): {@code javakata.soak.podDeadline} seconds for one pod's round trip alone (default 240),
 * {@code javakata.soak.waveDeadline} for each pod of the concurrent wave (default 240 + 60 per pod of the wave: the
 * VMs share the machine's cores), {@code javakata.soak.execs} ExecSyncs per pod (default 2). Not thread-safe.
 */
public final class Soak {

    /** How long containerd's descriptor count may take to come back after the last pod (it closes shim connections as they go). */
    static final Duration FD_SETTLE = Duration.ofSeconds(30);
    /** How long a pod's leftovers may take to go after RemovePodSandbox. */
    static final Duration POD_SETTLE = Duration.ofSeconds(15);

    /** What a soak found: every pod's result, the host before and after, and the total time. */
    record Report(int sequential, int concurrent, List<SoakPod.Result> pods, HostInventory before, HostInventory after,
                  List<String> hostLeaks, Duration took) {

        List<SoakPod.Result> failed() {
            return pods.stream().filter(p -> !p.ok()).toList();
        }

        boolean fdsBack() {
            return after.fdCount() == before.fdCount();
        }

        boolean ok() {
            return pods.size() == sequential + concurrent && failed().isEmpty() && hostLeaks.isEmpty() && fdsBack();
        }

        /** The summary scripts/soak.sh prints (docs/benchmarks.md "Soak"). */
        String summary() {
            var lines = new ArrayList<String>();
            long done = pods.stream().filter(p -> p.failures().isEmpty()).count();
            long podLeaks = pods.stream().mapToLong(p -> p.leaks().size()).sum();
            lines.add(String.format(Locale.ROOT, "soak: %d sequential + %d concurrent pods (handler %s) in %.0f s",
                    sequential, concurrent, PrivateCri.HANDLER, took.toMillis() / 1000.0));
            lines.add(String.format(Locale.ROOT, "pods done: %d/%d, failures: %d, leaks: %d of pods + %d on the host",
                    done, sequential + concurrent, pods.size() - done, podLeaks, hostLeaks.size()));
            String change = after.fdChangeSince(before);
            lines.add(String.format(Locale.ROOT, "containerd fds: %d before, %d after%s; threads %d -> %d; RSS %.0f -> %.0f MiB",
                    before.fdCount(), after.fdCount(), change.isEmpty() ? "" : " (" + change + ")", before.containerdThreads(),
                    after.containerdThreads(), before.containerdRssKib() / 1024.0, after.containerdRssKib() / 1024.0));
            lines.add("shim fds after start / after each exec: " + shimFds());
            lines.add("pod round trip (s): sequential " + percentiles(pods.subList(0, Math.min(sequential, pods.size())))
                    + "; concurrent " + percentiles(pods.subList(Math.min(sequential, pods.size()), pods.size())));
            for (SoakPod.Result pod : failed()) {
                lines.add("FAILED " + pod.name() + " " + pod.podId() + ": " + String.join("; ", pod.failures())
                        + (pod.leaks().isEmpty() ? "" : "; left: " + String.join("; ", pod.leaks())));
            }
            hostLeaks.forEach(l -> lines.add("LEAK " + l));
            lines.add(ok() ? "soak: OK" : "soak: FAILED");
            return String.join("\n", lines);
        }

        /** The range of the shims' counts per sample point, and the largest growth from the first exec to the last. */
        private String shimFds() {
            var samples = pods.stream().map(SoakPod.Result::shimFds).filter(l -> !l.isEmpty()).toList();
            if (samples.isEmpty()) {
                return "none sampled";
            }
            int points = samples.stream().mapToInt(List::size).min().orElse(0);
            var ranges = new ArrayList<String>();
            for (int i = 0; i < points; i++) {
                int at = i;
                ranges.add(samples.stream().mapToInt(l -> l.get(at)).min().orElse(0) + ".."
                        + samples.stream().mapToInt(l -> l.get(at)).max().orElse(0));
            }
            int growth = samples.stream().filter(l -> l.size() > 2).mapToInt(l -> l.getLast() - l.get(1)).max().orElse(0);
            return String.join(" / ", ranges) + "; largest growth from the first exec to the last: " + growth;
        }
    }

    private final PrivateCri cri;
    private final Duration podDeadline;
    private final Duration waveDeadline;
    private final int execs;
    private final Consumer<String> progress;

    Soak(PrivateCri cri, Duration podDeadline, Duration waveDeadline, int execs, Consumer<String> progress) {
        this.cri = cri;
        this.podDeadline = podDeadline;
        this.waveDeadline = waveDeadline;
        this.execs = execs;
        this.progress = progress;
    }

    /** A soak with the settings of the {@code javakata.soak.*} properties for a wave of {@code concurrent} pods. */
    static Soak withProperties(PrivateCri cri, int concurrent, Consumer<String> progress) {
        return new Soak(cri, Duration.ofSeconds(Long.getLong("javakata.soak.podDeadline", 240)),
                Duration.ofSeconds(Long.getLong("javakata.soak.waveDeadline", 240 + 60L * concurrent)),
                Integer.getInteger("javakata.soak.execs", 2), progress);
    }

    Report run(int sequential, int concurrent) throws IOException, InterruptedException {
        long start = System.nanoTime();
        HostInventory before = HostInventory.of(cri);
        var pods = new ArrayList<SoakPod.Result>();
        for (int i = 1; i <= sequential; i++) {
            pods.add(report(new SoakPod(cri, "seq-" + i, podDeadline, execs, POD_SETTLE).run()));
        }
        pods.addAll(wave(concurrent));
        HostInventory after = settled(before);
        var hostLeaks = new ArrayList<>(after.leaksSince(before));
        hostLeaks.addAll(criLeftovers());
        return new Report(sequential, concurrent, pods, before, after, hostLeaks, Duration.ofNanos(System.nanoTime() - start));
    }

    /** {@code count} pods started at once; one still running well past its deadline counts as stuck. */
    private List<SoakPod.Result> wave(int count) throws InterruptedException {
        var results = new ArrayList<SoakPod.Result>();
        try (var executor = Executors.newVirtualThreadPerTaskExecutor()) {
            var futures = new ArrayList<Future<SoakPod.Result>>();
            for (int i = 1; i <= count; i++) {
                var pod = new SoakPod(cri, "conc-" + i, waveDeadline, execs, POD_SETTLE);
                futures.add(executor.submit(pod::run));
            }
            long until = System.nanoTime() + waveDeadline.plus(SoakPod.CLEANUP_DEADLINE.multipliedBy(3)).plus(POD_SETTLE).toNanos();
            for (int i = 0; i < count; i++) {
                String name = "conc-" + (i + 1);
                try {
                    results.add(report(futures.get(i).get(Math.max(0, until - System.nanoTime()), TimeUnit.NANOSECONDS)));
                } catch (TimeoutException e) {
                    futures.get(i).cancel(true);
                    results.add(report(stuck(name, "still running after its deadline and every clean-up deadline")));
                } catch (ExecutionException e) {
                    results.add(report(stuck(name, "failed: " + e.getCause())));
                }
            }
        }
        return results;
    }

    /** Pod sandboxes and containers CRI still lists: every pod was removed, so none. */
    private List<String> criLeftovers() {
        var left = new ArrayList<String>();
        cri.cri().runtime(Duration.ofSeconds(30)).listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList().forEach(p -> left.add(
                "pod sandbox " + p.getMetadata().getName() + " " + p.getId() + " still listed by CRI, " + p.getState()));
        cri.cri().runtime(Duration.ofSeconds(30)).listContainers(ListContainersRequest.getDefaultInstance()).getContainersList()
                .forEach(c -> left.add("container " + c.getId() + " still listed by CRI, " + c.getState()));
        return left;
    }

    private static SoakPod.Result stuck(String name, String why) {
        return new SoakPod.Result(name, null, Duration.ZERO, Map.of(), List.of(), List.of(why), List.of());
    }

    /** The host after the last pod, once containerd's descriptors are back and nothing is left, or after the settle time. */
    private HostInventory settled(HostInventory before) throws IOException, InterruptedException {
        long until = System.nanoTime() + FD_SETTLE.toNanos();
        HostInventory after = HostInventory.of(cri);
        while ((after.fdCount() != before.fdCount() || !after.leaksSince(before).isEmpty()) && System.nanoTime() < until) {
            Thread.sleep(500);
            after = HostInventory.of(cri);
        }
        return after;
    }

    private SoakPod.Result report(SoakPod.Result pod) {
        var steps = new ArrayList<String>();
        pod.steps().forEach((step, millis) -> steps.add(String.format(Locale.ROOT, "%s %.1f", step, millis / 1000.0)));
        progress.accept(String.format(Locale.ROOT, "pod %s %s %.1f s (%s) shim fds %s%s", pod.name(),
                pod.ok() ? "ok" : "FAILED", pod.total().toMillis() / 1000.0, String.join(", ", steps), pod.shimFds(),
                pod.ok() ? "" : ": " + firstLines(pod.failures()) + " " + String.join("; ", pod.leaks())));
        return pod;
    }

    /** The first line of each message (a boot failure carries the VM's console; the summary shows it whole). */
    private static String firstLines(List<String> messages) {
        return String.join("; ", messages.stream().map(m -> m.lines().findFirst().orElse("")).toList());
    }

    /** "p50 a / p95 b / max c" of the pods' round trips, in seconds (nearest rank). */
    static String percentiles(List<SoakPod.Result> pods) {
        if (pods.isEmpty()) {
            return "-";
        }
        List<Long> millis = pods.stream().map(p -> p.total().toMillis()).sorted().toList();
        return String.format(Locale.ROOT, "p50 %.1f / p95 %.1f / max %.1f", rank(millis, 50) / 1000.0,
                rank(millis, 95) / 1000.0, millis.getLast() / 1000.0);
    }

    private static long rank(List<Long> sorted, int percent) {
        int index = (int) Math.ceil(percent / 100.0 * sorted.size()) - 1;
        return sorted.get(Math.max(0, index));
    }

    /** {@code Soak SEQUENTIAL CONCURRENT}: prints a line per pod and the summary; exit code 1 unless all is well. */
    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: Soak SEQUENTIAL CONCURRENT");
            System.exit(2);
        }
        int sequential = Integer.parseInt(args[0]);
        int concurrent = Integer.parseInt(args[1]);
        var cri = new PrivateCri();
        cri.beforeAll(null);
        Report report = null;
        AssertionError harness = null;
        try {
            report = withProperties(cri, concurrent, System.out::println).run(sequential, concurrent);
        } finally {
            try {
                cri.afterAll(null);
            } catch (AssertionError e) {
                harness = e;
            }
        }
        System.out.println(report.summary());
        if (harness != null) {
            System.out.println("the harness's own leak check after containerd stopped: " + harness.getMessage());
        }
        System.exit(report.ok() && harness == null ? 0 : 1);
    }
}
