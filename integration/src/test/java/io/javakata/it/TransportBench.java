package io.javakata.it;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.function.UnaryOperator;

/**
 * The agent-transport figures of docs/benchmarks.md, run by scripts/bench-transports.sh (not a test): per round and
 * per CRI handler (each handler's configuration picks one transport, scripts/containerd.sh), one pod, and in it:
 * RunPodSandbox's time; the agent's own request latency, from the pod's metrics (the watchdog's {@code Check}s,
 * {@code javakata_agent_request_duration_seconds}, as the shim measured them); the round trip of ExecSync
 * {@code true} (CRI → shim → agent → runc exec, p50 of {@value #EXECS}); and stdout throughput: a container writing
 * {@value #STDOUT_MIB} MiB to stdout against one writing nothing, from StartContainer to EXITED (the shim reports the
 * exit only after the last byte reached containerd, docs/architecture.md "The agent API").
 *
 * <p>Usage: {@code TransportBench ROUNDS HANDLER...}; prints one line per pod.
 */
public final class TransportBench {

    static final int EXECS = 10;
    static final int STDOUT_MIB = 32;

    private TransportBench() {
    }

    public static void main(String[] args) throws Exception {
        int rounds = Integer.parseInt(args[0]);
        List<String> handlers = List.of(args).subList(1, args.length);
        var cri = new PrivateCri();
        cri.beforeAll(null);
        var results = new ArrayList<String>();
        try {
            for (int round = 1; round <= rounds; round++) {
                for (String handler : handlers) {
                    String line = onePod(cri, handler, round);
                    System.out.println(line);
                    results.add(line);
                }
            }
        } finally {
            cri.afterAll(null);
        }
        System.out.println("handler transport round run_pod_ms agent_check_mean_ms agent_checks exec_sync_p50_ms "
                + "stdout_" + STDOUT_MIB + "mib_ms empty_container_ms stdout_mib_per_s");
        results.forEach(System.out::println);
    }

    private static String onePod(PrivateCri cri, String handler, int round) throws Exception {
        long start = System.nanoTime();
        try (Pod pod = cri.runPod(cri.podConfig("tb-" + handler + "-" + round, UnaryOperator.identity()), handler)) {
            long runPod = millisSince(start);
            String sleeper = pod.run("sleeper", "sleep", "3600");
            List<Long> execs = new ArrayList<>();
            for (int i = 0; i < EXECS; i++) {
                long t = System.nanoTime();
                pod.execOk(sleeper, "true");
                execs.add(millisSince(t));
            }
            Collections.sort(execs);
            long empty = timeToExit(pod, "empty", "true");
            long full = timeToExit(pod, "stdout", "sh", "-c", "head -c " + (STDOUT_MIB << 20) + " /dev/zero");
            double mibPerSecond = full > empty ? STDOUT_MIB * 1000.0 / (full - empty) : Double.NaN;
            String metrics = scrape(cri.containerd().sandboxDir(pod.id()).resolve("metrics.sock"));
            double sum = sample(metrics, "javakata_agent_request_duration_seconds_sum{method=\"Check\"");
            double count = sample(metrics, "javakata_agent_request_duration_seconds_count{method=\"Check\"");
            return String.format(Locale.ROOT, "%s %s %d %d %.1f %.0f %d %d %d %.1f", handler, transport(handler), round,
                    runPod, count > 0 ? sum * 1000 / count : Double.NaN, count, execs.get(execs.size() / 2), full,
                    empty, mibPerSecond);
        }
    }

    private static String transport(String handler) {
        return handler.equals("javakata-serial") ? "serial"
                : PrivateContainerd.TRANSPORT.isBlank() ? "configured" : PrivateContainerd.TRANSPORT;
    }

    /** Milliseconds from StartContainer of {@code command} to its EXITED state. */
    private static long timeToExit(Pod pod, String name, String... command) throws Exception {
        String id = pod.create(pod.containerConfig(name, command).build());
        long t = System.nanoTime();
        pod.start(id);
        var status = pod.awaitExit(id, Duration.ofSeconds(600));
        long took = millisSince(t);
        if (status.getExitCode() != 0) {
            throw new AssertionError(name + " exited with " + status.getExitCode());
        }
        return took;
    }

    private static String scrape(Path socket) {
        var result = Ctr.execute(List.of("curl", "-sS", "--max-time", "10", "--unix-socket", socket.toString(),
                "http://pod/metrics"), null, Duration.ofSeconds(20));
        if (result.exitCode() != 0) {
            throw new AssertionError("scrape " + socket + ": " + result.describe());
        }
        return result.stdout();
    }

    /** The value of the first sample whose line starts with {@code prefix}; NaN when there is none. */
    private static double sample(String metrics, String prefix) {
        return metrics.lines().filter(l -> l.startsWith(prefix)).map(l -> l.substring(l.lastIndexOf(' ') + 1))
                .mapToDouble(Double::parseDouble).findFirst().orElse(Double.NaN);
    }

    private static long millisSince(long startNanos) {
        return (System.nanoTime() - startNanos) / 1_000_000;
    }
}
