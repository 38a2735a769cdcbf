package io.javakata.it;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.function.UnaryOperator;

/**
 * The CRI figures of docs/benchmarks.md, run by scripts/bench-cri.sh and scripts/bench-pod-start.sh (not a test). For
 * each round, each handler in turn (rounds interleave the handlers: A B C A B C ...):
 * <ul>
 * <li>a CRI handler (runc, javakata, or any handler the private containerd has): RunPodSandbox → CreateContainer →
 * StartContainer → the container's first line in its CRI log file, timed from the RunPodSandbox call, as the kubelet
 * would see it; then, in the same running pod, CreateContainer + StartContainer of a second container and its first log
 * line, timed from its CreateContainer; for javakata pods the host memory of the pod's shim, QEMU and virtiofsd (RSS
 * and PSS) and the guest's used memory (MemTotal − MemAvailable) once the first container runs;</li>
 * <li>{@value #FLOOR}: the bare VM boot floor: the QEMU command line of the run's first javakata pod (same binary,
 * machine, accelerator, CPU, memory backend, kernel and kernel parameters), with its pod-specific devices (sockets,
 * tap) and QMP left out, started running (no {@code -S}) on the initrd {@code -Djavakata.bench.floorInitrd} names (a
 * busybox one whose /init prints {@value #FLOOR_LINE}), timed from QEMU's spawn to that line on its serial console.
 * A javakata handler must come before it in the list.</li>
 * </ul>
 *
 * <p>Usage: {@code CriBench ROUNDS HANDLER...}; prints one line per sample as it goes, then all of them and a summary
 * (medians, min–max, ratios to the floor and to runc). A sample that fails (a CRI call past its deadline) is reported
 * and left out of the figures.
 */
public final class CriBench {

    /** The pseudo-handler of the bare VM boot floor. */
    static final String FLOOR = "floor";
    /** What the floor initrd's /init prints (scripts/bench-pod-start.sh writes it). */
    static final String FLOOR_LINE = "floor: init reached";
    private static final Duration FLOOR_DEADLINE = Duration.ofSeconds(120);

    private CriBench() {
    }

    /** One pod, or one floor boot; -1 where a figure does not apply. */
    record Sample(String handler, int round, String load, long runPodMs, long firstLineMs, long secondStartMs,
            long secondFirstLineMs, String shim, String qemu, String virtiofsd, String guestUsedMib) {

        static final String HEADER = "handler round load run_pod_ms first_log_line_ms second_create_start_ms "
                + "second_first_log_line_ms shim_rss/pss_mib qemu_rss/pss_mib virtiofsd_rss/pss_mib guest_used_mib";

        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%s %d %s %s %d %s %s %s %s %s %s", handler, round, load, orDash(runPodMs),
                    firstLineMs, orDash(secondStartMs), orDash(secondFirstLineMs), shim, qemu, virtiofsd, guestUsedMib);
        }

        private static String orDash(long value) {
            return value < 0 ? "-" : Long.toString(value);
        }
    }

    public static void main(String[] args) throws Exception {
        int rounds = Integer.parseInt(args[0]);
        List<String> handlers = List.of(args).subList(1, args.length);
        var cri = new PrivateCri();
        cri.beforeAll(null);
        var samples = new ArrayList<Sample>();
        var failures = new ArrayList<String>();
        var floor = new Floor();
        try {
            for (int round = 1; round <= rounds; round++) {
                for (String handler : handlers) {
                    try {
                        Sample sample = handler.equals(FLOOR) ? floor.boot(round) : onePod(cri, handler, round, floor);
                        System.out.println(sample);
                        samples.add(sample);
                        if (!handler.equals(FLOOR)) {
                            awaitWarmShims(cri, handler.contains("warm") || handler.contains("spare"));
                        }
                    } catch (RuntimeException | AssertionError e) {
                        // A pod that failed (under load, a deadline) is reported and left out; the run goes on.
                        String failure = handler + " " + round + " FAILED: " + e.getMessage();
                        System.out.println(failure);
                        failures.add(failure);
                    }
                }
            }
        } finally {
            cri.afterAll(null);
        }
        System.out.println(Sample.HEADER);
        samples.forEach(System.out::println);
        System.out.println();
        System.out.print(summary(samples));
        failures.forEach(f -> System.out.println("summary: " + f));
    }

    /**
     * After a pod: once its shim started a warm shim (and, with [template] spares, its spare VM), waits until every warm
     * shim waiting under the containerd's directory is ready, so that their start-up (a JVM, a rehearsal, a restored
     * and rehearsed VM) does not run during the next handler's sample. With {@code started} (a handler with warm
     * shims, whose pod's shim starts one as it exits), at least one must be ready; otherwise a handler without warm
     * shims started none, and this returns at once.
     */
    private static void awaitWarmShims(PrivateCri cri, boolean started) throws InterruptedException {
        Path warm = cri.containerd().dir().resolve("warm");
        long deadline = System.nanoTime() + WARM_DEADLINE.toNanos();
        while (System.nanoTime() < deadline) {
            if (!started && !Files.isDirectory(warm)) {
                return;
            }
            try (var list = Files.isDirectory(warm) ? Files.list(warm) : java.util.stream.Stream.<Path>empty()) {
                List<Path> live = list.filter(d -> d.getFileName().toString().matches("[0-9]+"))
                        .filter(d -> ProcessHandle.of(Long.parseLong(d.getFileName().toString()))
                                .map(ProcessHandle::isAlive).orElse(false)).toList();
                boolean starting = live.stream()
                        .anyMatch(d -> !Files.exists(d.resolve("ready")) && !Files.exists(d.resolve("claimed")));
                if (!starting && (!started || live.stream().anyMatch(d -> Files.exists(d.resolve("ready"))))) {
                    return;
                }
            } catch (java.io.IOException | java.io.UncheckedIOException e) {
                // a directory went meanwhile: look again
            }
            TimeUnit.MILLISECONDS.sleep(100);
        }
        System.out.println("bench: warm shims still starting after " + WARM_DEADLINE.toSeconds() + " s; going on");
    }

    private static final Duration WARM_DEADLINE = Duration.ofSeconds(300);

    private static Sample onePod(PrivateCri cri, String handler, int round, Floor floor) throws Exception {
        String load = HostFigures.load();
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
            boolean runc = handler.equals("runc");
            if (!runc) {
                floor.learnFrom(containerd.processes("qemu-system-x86_64"));
            }
            String javakataJar = Path.of(System.getenv().getOrDefault("JAVAKATA_SHIM_JAR", "javakata-shim.jar")).getFileName().toString();
            String shim = runc ? "containerd-shim-runc-v2" : javakataJar;
            String shimMemory = HostFigures.memory(containerd.processes(shim)).toString();
            String qemuMemory = HostFigures.memory(program(containerd, "qemu-system-x86_64")).toString();
            String virtiofsdMemory = HostFigures.memory(program(containerd, "virtiofsd")).toString();

            long secondStart = System.nanoTime();
            pod.run("second", "sh", "-c", "echo second; sleep 3600");
            long secondStarted = System.nanoTime();
            pod.awaitLog("second", l -> l.endsWith(" stdout F second"), Duration.ofSeconds(180));
            long secondLine = System.nanoTime();
            return new Sample(handler, round, load, millis(podReady - start), millis(firstLine - start),
                    millis(secondStarted - secondStart), millis(secondLine - secondStart), shimMemory, qemuMemory,
                    virtiofsdMemory, runc ? "-" : Long.toString((total - available) / 1024));
        }
    }

    /** This containerd's processes running {@code name}. */
    static List<Long> program(PrivateContainerd containerd, String name) throws IOException {
        return HostFigures.running(containerd.processes(name), name);
    }

    private static long millis(long nanos) {
        return nanos / 1_000_000;
    }

    /**
     * Per handler: RunPodSandbox → first log line and the second container, median (min–max) in ms, and the ratios of
     * the medians to the floor's and to runc's.
     */
    static String summary(List<Sample> samples) {
        Map<String, List<Sample>> byHandler = new LinkedHashMap<>();
        samples.forEach(s -> byHandler.computeIfAbsent(s.handler(), h -> new ArrayList<>()).add(s));
        double floor = HostFigures.median(figures(byHandler.getOrDefault(FLOOR, List.of()), Sample::firstLineMs));
        double runc = HostFigures.median(figures(byHandler.getOrDefault("runc", List.of()), Sample::firstLineMs));
        double runcSecond = HostFigures.median(figures(byHandler.getOrDefault("runc", List.of()), Sample::secondStartMs));
        var out = new StringBuilder();
        out.append("summary: handler n | to first log line (floor: to /init's line) ms, median (min–max) | x floor | x runc"
                + " | second container create+start ms | x runc | second container to first log line ms\n");
        byHandler.forEach((handler, list) -> {
            List<Long> first = figures(list, Sample::firstLineMs);
            List<Long> second = figures(list, Sample::secondStartMs);
            double median = HostFigures.median(first);
            out.append(String.format(Locale.ROOT, "summary: %s %d | %s | %s | %s | %s | %s | %s%n", handler, list.size(),
                    HostFigures.spread(first), ratio(median, floor), ratio(median, runc), HostFigures.spread(second),
                    ratio(HostFigures.median(second), runcSecond), HostFigures.spread(figures(list, Sample::secondFirstLineMs))));
        });
        return out.toString();
    }

    private static List<Long> figures(List<Sample> samples, java.util.function.ToLongFunction<Sample> figure) {
        return samples.stream().mapToLong(figure).filter(v -> v >= 0).boxed().toList();
    }

    private static String ratio(double value, double base) {
        return Double.isNaN(value) || Double.isNaN(base) || base == 0 ? "-" : String.format(Locale.ROOT, "%.2f", value / base);
    }

    /** The bare VM boot floor, on the QEMU command line of the run's first javakata pod. */
    static final class Floor {

        private List<String> podArgv;

        /** Remembers the command line of the first of {@code qemuPids} (a javakata pod's QEMU), once. */
        void learnFrom(List<Long> qemuPids) throws IOException {
            if (podArgv == null && !qemuPids.isEmpty()) {
                byte[] cmdline = Files.readAllBytes(Path.of("/proc", Long.toString(qemuPids.getFirst()), "cmdline"));
                podArgv = List.of(new String(cmdline, StandardCharsets.UTF_8).split("\0"));
            }
        }

        Sample boot(int round) throws IOException, InterruptedException {
            if (podArgv == null) {
                throw new IllegalStateException("the floor needs a javakata pod's QEMU command line: put a javakata "
                        + "handler before \"" + FLOOR + "\"");
            }
            String initrd = System.getProperty("javakata.bench.floorInitrd");
            if (initrd == null || !Files.isReadable(Path.of(initrd))) {
                throw new IllegalStateException("-Djavakata.bench.floorInitrd names no readable initrd: " + initrd);
            }
            Path dir = Files.createTempDirectory("jkbench-floor");
            try {
                Path console = dir.resolve("console.log");
                List<String> argv = argv(podArgv, Path.of(initrd), console);
                if (round == 1) {
                    System.out.println("floor: " + String.join(" ", argv));
                }
                String load = HostFigures.load();
                // Under a loaded host TCG's timer check can panic the kernel early: such a boot is retried, up to 3 times.
                for (int attempt = 1; ; attempt++) {
                    Files.deleteIfExists(console);
                    long start = System.nanoTime();
                    Process qemu = new ProcessBuilder(argv).redirectErrorStream(true)
                            .redirectOutput(dir.resolve("qemu.out").toFile()).start();
                    try {
                        boolean reached = await(console, l -> l.contains(FLOOR_LINE), qemu);
                        long elapsed = System.nanoTime() - start;
                        if (reached) {
                            return new Sample(FLOOR, round, load, -1, millis(elapsed), -1, -1, "-", "-", "-", "-");
                        }
                        String last = Files.exists(console) ? Files.readString(console, StandardCharsets.ISO_8859_1).strip() : "";
                        String tail = last.substring(Math.max(0, last.length() - 300));
                        if (attempt == 3 || qemu.isAlive()) {
                            throw new IllegalStateException("floor boot: no \"" + FLOOR_LINE + "\" on the console (attempt "
                                    + attempt + "); QEMU said: " + Files.readString(dir.resolve("qemu.out")).strip()
                                    + "\nconsole ends: " + tail);
                        }
                        System.out.println("floor: round " + round + ", attempt " + attempt
                                + ": the guest ended before /init ran; retrying. Console ends: " + tail);
                    } finally {
                        qemu.destroyForcibly();
                        qemu.waitFor(10, TimeUnit.SECONDS);
                    }
                }
            } finally {
                try (var files = Files.list(dir)) {
                    for (Path file : files.toList()) {
                        Files.delete(file);
                    }
                }
                Files.delete(dir);
            }
        }

        /** Whether a line of {@code console} matched before QEMU exited or {@link #FLOOR_DEADLINE} passed. */
        private static boolean await(Path console, Predicate<String> line, Process qemu) throws IOException, InterruptedException {
            long deadline = System.nanoTime() + FLOOR_DEADLINE.toNanos();
            while (System.nanoTime() < deadline) {
                boolean alive = qemu.isAlive();
                if (Files.exists(console)
                        && Files.readString(console, StandardCharsets.ISO_8859_1).lines().anyMatch(line)) {
                    return true;
                }
                if (!alive) {
                    return false;
                }
                Thread.sleep(5);
            }
            return false;
        }

        /**
         * The pod's QEMU command line without what belongs to one pod: no {@code -S} (nothing will send QMP
         * {@code cont}), no QMP, no chardev (every one is a socket of the pod: console, agent, virtiofsd, vsock
         * backend, debug console), no device that uses a chardev, a netdev or the host's vhost-vsock, no netdev (the tap
         * lives in the pod's network namespace); the serial console to {@code console}, the initrd {@code initrd}.
         * Machine, accelerator, CPU, memory backend, balloon, root ports, kernel, kernel parameters, seccomp and
         * -runas stay as the pod had them.
         */
        static List<String> argv(List<String> pod, Path initrd, Path console) {
            var out = new ArrayList<String>();
            out.add(pod.getFirst());
            for (int i = 1; i < pod.size(); i++) {
                String option = pod.get(i);
                String value = i + 1 < pod.size() ? pod.get(i + 1) : "";
                switch (option) {
                    case "-S" -> {
                    }
                    case "-qmp", "-chardev", "-netdev" -> i++;
                    case "-device" -> {
                        if (!value.contains("chardev=") && !value.contains("netdev=") && !value.startsWith("vhost-vsock")) {
                            out.add(option);
                            out.add(value);
                        }
                        i++;
                    }
                    case "-serial" -> {
                        out.add(option);
                        out.add("file:" + console);
                        i++;
                    }
                    case "-initrd" -> {
                        out.add(option);
                        out.add(initrd.toString());
                        i++;
                    }
                    default -> {
                        out.add(option);
                        if (option.startsWith("-") && i + 1 < pod.size() && !value.startsWith("-")) {
                            out.add(value);
                            i++;
                        }
                    }
                }
            }
            return List.copyOf(out);
        }
    }
}
