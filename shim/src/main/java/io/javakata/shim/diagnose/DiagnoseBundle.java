package io.javakata.shim.diagnose;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.javakata.hypervisor.ConsoleRing;
import io.javakata.shim.hostcheck.EffectiveSetup;
import io.javakata.shim.hostcheck.HostCheck;
import io.javakata.shim.hostcheck.HostEnv;
import io.javakata.shim.metrics.MetricsServer;
import io.javakata.shim.metrics.NodeMetrics;
import io.javakata.shim.sandbox.BootTimeline;
import io.javakata.shim.sandbox.PodResource;
import io.javakata.shim.sandbox.SandboxPaths;
import io.javakata.shim.sandbox.SandboxState;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * {@code containerd-shim-javakata-v2 diagnose POD}: one .tar.gz with what it takes to see why a pod misbehaved,
 * gathered from the pod's state directory and the host without touching the pod: the effective configuration and
 * versions (env.json) and the host check (check.txt), the boot timeline, the journal (sandbox.json), the guest console
 * with the agent's log in it (console.log.1, console.log), qemu.log and virtiofsd.log, QEMU's command line, the pod's
 * host processes (status, cgroup, command line of each and of their children) and a scrape of its metrics.
 * summary.txt says what is in the archive and what could not be gathered. Blocking: the metrics scrape and the host
 * check are bounded (10 s each). Stateless.
 */
public final class DiagnoseBundle {

    private static final String ROTATED_CONSOLE = "console.log" + ConsoleRing.PREVIOUS_SUFFIX;
    /** Files of the sandbox directory copied as they are, in this order. */
    static final List<String> COPIED = List.of(BootTimeline.FILE_NAME, "sandbox.json", ROTATED_CONSOLE,
            "console.log", "qemu.log", "virtiofsd.log");

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'")
            .withZone(ZoneOffset.UTC);

    /**
     * What was written.
     *
     * @param archive  the .tar.gz
     * @param pod      the pod it describes
     * @param entries  the files in it
     * @param missing  what could not be gathered, and why
     */
    public record Result(Path archive, String pod, List<String> entries, List<String> missing) {
    }

    private final EffectiveSetup setup;
    private final Supplier<String> hostEnv;
    private final Supplier<String> hostCheck;
    private final Path proc;
    private final Clock clock;

    DiagnoseBundle(EffectiveSetup setup, Supplier<String> hostEnv, Supplier<String> hostCheck, Path proc,
                   Clock clock) {
        this.setup = setup;
        this.hostEnv = hostEnv;
        this.hostCheck = hostCheck;
        this.proc = proc;
        this.clock = clock;
    }

    /** A bundle of this host, with the configuration {@code setup} found. */
    public static DiagnoseBundle of(EffectiveSetup setup) {
        return new DiagnoseBundle(setup, () -> {
            try {
                return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(HostEnv.of(setup)) + "\n";
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }, () -> HostCheck.report(HostCheck.of(setup).run()), Path.of("/proc"), Clock.systemUTC());
    }

    /**
     * Writes the bundle of pod {@code pod} (see {@link PodLookup}) under {@code stateDir} to {@code output}, or to
     * {@code javakata-diagnose-<pod>-<time>.tar.gz} in {@code defaultDir}.
     *
     * @throws io.javakata.ttrpc.RuntimeStatusException NOT_FOUND or INVALID_ARGUMENT when {@code pod} names no pod or
     *                                                  several
     * @throws IOException                              if the archive cannot be written
     */
    public Result write(Path stateDir, String pod, Optional<Path> output, Path defaultDir) throws IOException {
        PodLookup.Found found = PodLookup.find(stateDir, pod);
        Instant now = clock.instant();
        BootTimeline.Identity id = found.identity();
        String name = safe(id.podName().isEmpty() ? id.sandboxId() : id.podName());
        String top = "javakata-diagnose-" + name + "-" + STAMP.format(now);
        Path archive = output.orElse(defaultDir.resolve(top + ".tar.gz"));

        Map<String, byte[]> entries = new LinkedHashMap<>();
        List<String> missing = new ArrayList<>();
        gather(found, entries, missing);

        String summary = summary(found, now, entries, missing);
        try (OutputStream out = Files.newOutputStream(archive, StandardOpenOption.CREATE,
                StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE);
             TarGz tar = new TarGz(out, now)) {
            tar.add(top + "/summary.txt", summary.getBytes(StandardCharsets.UTF_8));
            for (var e : entries.entrySet()) {
                tar.add(top + "/" + e.getKey(), e.getValue());
            }
        }
        List<String> names = new ArrayList<>(List.of("summary.txt"));
        names.addAll(entries.keySet());
        return new Result(archive, found.describe(), names, missing);
    }

    private void gather(PodLookup.Found found, Map<String, byte[]> entries, List<String> missing) {
        add(entries, missing, "env.json", hostEnv);
        add(entries, missing, "check.txt", hostCheck);
        for (String file : COPIED) {
            Path path = found.dir().resolve(file);
            try {
                entries.put(file, Files.readAllBytes(path));
            } catch (IOException e) {
                // The console's older half exists only once the console has filled its first half.
                if (Files.exists(path) || !file.equals(ROTATED_CONSOLE)) {
                    missing.add(file + ": " + (Files.exists(path) ? e.getMessage() : "not in " + found.dir()));
                }
            }
        }
        add(entries, missing, "timeline.txt", () -> timelineTable(found.dir()));
        Optional<SandboxState> journal = journal(found.dir(), missing);
        List<PodResource.HostProcess> processes = journal.flatMap(SandboxState::vm)
                .map(PodResource.Vm::processes).orElse(List.of());
        long vmm = journal.flatMap(SandboxState::vm).map(PodResource.Vm::vmmPid).orElse(0L);
        if (vmm > 0 && processes.stream().anyMatch(p -> p.pid() == vmm && HostProcessReport.alive(proc, p))) {
            add(entries, missing, "qemu-cmdline.txt", () -> String.join("\n", HostProcessReport.argv(proc, vmm)) + "\n");
        } else {
            missing.add("qemu-cmdline.txt: QEMU " + (vmm > 0 ? "pid " + vmm + " is not running" : "was never started"));
        }
        add(entries, missing, "processes.txt", () -> HostProcessReport.of(proc, journal.orElse(null), processes));
        add(entries, missing, "metrics.txt", () -> scrape(found.dir()));
    }

    private static Optional<SandboxState> journal(Path dir, List<String> missing) {
        try {
            return Optional.of(SandboxState.read(new SandboxPaths(dir).sandboxJson()));
        } catch (IOException | RuntimeException e) {
            missing.add("the pod's host processes: sandbox.json unreadable: " + e.getMessage());
            return Optional.empty();
        }
    }

    private static String scrape(Path dir) {
        try {
            return NodeMetrics.scrapeOne(dir.resolve(MetricsServer.SOCKET_NAME));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** timeline.json as an aligned table, phases in order. */
    static String timelineTable(Path dir) {
        BootTimeline.Saved saved;
        try {
            saved = BootTimeline.Saved.read(dir.resolve(BootTimeline.FILE_NAME));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        var sb = new StringBuilder("elapsed since the shim started (" + saved.origin() + ")\n");
        long previous = 0;
        for (BootTimeline.Phase p : saved.phases()) {
            String line = String.format("%9d ms  %+8d ms  %-18s %s%s", p.elapsedMillis(), p.elapsedMillis() - previous,
                    p.phase(), p.container().isEmpty() ? "" : p.container() + (p.name().isEmpty() ? "" : " (" + p.name()
                            + ")"), p.guestClock() ? "[guest clock]" : "");
            sb.append(line.stripTrailing()).append('\n');
            previous = p.elapsedMillis();
        }
        return sb.toString();
    }

    private static void add(Map<String, byte[]> entries, List<String> missing, String name, Supplier<String> text) {
        try {
            entries.put(name, text.get().getBytes(StandardCharsets.UTF_8));
        } catch (RuntimeException e) {
            Throwable cause = e instanceof java.io.UncheckedIOException u ? u.getCause() : e;
            missing.add(name + ": " + cause.getMessage());
        }
    }

    private String summary(PodLookup.Found found, Instant now, Map<String, byte[]> entries, List<String> missing) {
        var sb = new StringBuilder();
        sb.append("javakata diagnose of ").append(found.describe()).append('\n');
        sb.append("written ").append(now).append(" with configuration ").append(setup.configFile()).append(" (")
                .append(setup.configSource()).append(")\n\n");
        sb.append("files:\n");
        entries.forEach((name, bytes) -> sb.append(String.format("  %-20s %9d bytes%n", name, bytes.length)));
        if (!missing.isEmpty()) {
            sb.append("\nnot gathered:\n");
            missing.forEach(m -> sb.append("  ").append(m).append('\n'));
        }
        return sb.toString();
    }

    /** A file-name-safe form of a pod name or id. */
    static String safe(String s) {
        String cleaned = s.replaceAll("[^A-Za-z0-9._-]", "_");
        return cleaned.length() > 64 ? cleaned.substring(0, 64) : cleaned;
    }
}
