package io.javakata.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.UnaryOperator;

/**
 * The CRI figures of docs/benchmarks.md, run by scripts/bench-cri.sh (not a test): for each round and each
 * handler, RunPodSandbox → CreateContainer → StartContainer → the container's first line in its CRI log file,
 * timed from the RunPodSandbox call, as the kubelet would see it; then, for javakata pods, the host RSS of the
 * pod's shim, QEMU and virtiofsd processes (RSS and PSS) and the guest's used memory (MemTotal − MemAvailable) after start.
 *
 * <p>Usage: {@code CriBench ROUNDS HANDLER...}; prints one line per pod and a summary.
 */
public final class CriBench {

    private CriBench() {
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
                    results.add(onePod(cri, handler, round));
                }
            }
        } finally {
            cri.afterAll(null);
        }
        System.out.println("handler round run_pod_ms first_log_line_ms shim_rss/pss_mib qemu_rss/pss_mib virtiofsd_rss/pss_mib guest_used_mib");
        results.forEach(System.out::println);
    }

    private static String onePod(PrivateCri cri, String handler, int round) throws Exception {
        long start = System.nanoTime();
        try (Pod pod = cri.runPod(cri.podConfig("bench-" + handler + "-" + round, UnaryOperator.identity()), handler)) {
            long podReady = System.nanoTime();
            pod.run("c", "sh", "-c", "echo first; grep -E '^(MemTotal|MemAvailable):' /proc/meminfo; echo end; sleep 3600");
            pod.awaitLog("c", l -> l.endsWith(" stdout F first"), Duration.ofSeconds(180));
            long firstLine = System.nanoTime();
            var lines = pod.awaitLog("c", l -> l.endsWith(" stdout F end"), Duration.ofSeconds(60));
            long total = 0;
            long available = 0;
            for (String line : lines) {
                String content = line.split(" ", 4)[3];
                if (content.startsWith("MemTotal:")) {
                    total = Long.parseLong(content.replaceAll("\\D", ""));
                } else if (content.startsWith("MemAvailable:")) {
                    available = Long.parseLong(content.replaceAll("\\D", ""));
                }
            }
            var containerd = cri.containerd();
            String javakataJar = Path.of(System.getenv().getOrDefault("JAVAKATA_SHIM_JAR", "javakata-shim.jar")).getFileName().toString();
            String shim = handler.equals("runc") ? "containerd-shim-runc-v2" : javakataJar;
            return String.format(Locale.ROOT, "%s %d %d %d %s %s %s %s", handler, round,
                    (podReady - start) / 1_000_000, (firstLine - start) / 1_000_000,
                    memory(containerd.processes(shim)), memory(containerd.processes("qemu-system-x86_64")),
                    memory(containerd.processes("virtiofsd")),
                    handler.equals("runc") ? "-" : Long.toString((total - available) / 1024));
        }
    }

    /**
     * Summed Rss and Pss of {@code pids} in MiB, as "rss/pss". QEMU and virtiofsd both map the guest's memory
     * (a shared memfd), so their RSS counts those pages twice; PSS splits them between the two.
     */
    private static String memory(List<Long> pids) {
        long rss = 0;
        long pss = 0;
        for (long pid : pids) {
            try {
                for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "smaps_rollup"))) {
                    if (line.startsWith("Rss:")) {
                        rss += Long.parseLong(line.replaceAll("\\D", ""));
                    } else if (line.startsWith("Pss:")) {
                        pss += Long.parseLong(line.replaceAll("\\D", ""));
                    }
                }
            } catch (IOException e) {
                // exited meanwhile
            }
        }
        return String.format(Locale.ROOT, "%.0f/%.0f", rss / 1024.0, pss / 1024.0);
    }
}
