package io.javakata.it;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * What the benchmarks (CriBench, DensityBench) read of the host: a process set's memory from
 * {@code /proc/<pid>/smaps_rollup}, MemAvailable from {@code /proc/meminfo} and the load average, as proc(5)
 * documents them; and the order statistics they report.
 */
final class HostFigures {

    private HostFigures() {
    }

    /** Summed Rss and Pss of {@code pids}, in KiB; a process that exits meanwhile counts nothing. */
    record Memory(long rssKib, long pssKib) {

        /**
         * "rss/pss" in MiB. QEMU and virtiofsd both map the guest's memory (a shared memfd), so their RSS counts
         * those pages twice; PSS splits them between the two.
         */
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%.0f/%.0f", rssKib / 1024.0, pssKib / 1024.0);
        }
    }

    static Memory memory(List<Long> pids) {
        long rss = 0;
        long pss = 0;
        for (long pid : pids) {
            try {
                for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "smaps_rollup"))) {
                    if (line.startsWith("Rss:")) {
                        rss += kib(line);
                    } else if (line.startsWith("Pss:")) {
                        pss += kib(line);
                    }
                }
            } catch (IOException e) {
                // exited meanwhile
            }
        }
        return new Memory(rss, pss);
    }

    /**
     * Those of {@code pids} that run the program {@code name} (the file name of argv[0]). A command line search is not
     * enough: QEMU's names virtiofsd's socket, so it "contains" virtiofsd.
     */
    static List<Long> running(List<Long> pids, String name) {
        return pids.stream().filter(pid -> {
            try {
                String argv0 = new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline")),
                        java.nio.charset.StandardCharsets.UTF_8).split("\0", 2)[0];
                return Path.of(argv0).getFileName().toString().equals(name);
            } catch (IOException | java.nio.file.InvalidPathException | NullPointerException e) {
                return false; // exited meanwhile, or no argv
            }
        }).toList();
    }

    /** The host's MemAvailable in KiB. */
    static long memAvailableKib() {
        try {
            return Files.readAllLines(Path.of("/proc/meminfo")).stream().filter(l -> l.startsWith("MemAvailable:"))
                    .mapToLong(HostFigures::kib).findFirst().orElseThrow();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The 1-minute load average, as /proc/loadavg prints it. */
    static String load() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).split(" ")[0];
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The number of a /proc line such as "Pss:   1234 kB". */
    private static long kib(String line) {
        return Long.parseLong(line.replaceAll("\\D", ""));
    }

    /** The median of {@code values} (the mean of the middle two for an even count); NaN when empty. */
    static double median(List<Long> values) {
        if (values.isEmpty()) {
            return Double.NaN;
        }
        List<Long> sorted = values.stream().sorted().toList();
        int n = sorted.size();
        return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2.0;
    }

    /** "median (min–max)" of milliseconds, e.g. "15035 (14878–15370)". */
    static String spread(List<Long> values) {
        if (values.isEmpty()) {
            return "-";
        }
        return String.format(Locale.ROOT, "%.0f (%d–%d)", median(values), values.stream().mapToLong(Long::longValue).min().orElseThrow(),
                values.stream().mapToLong(Long::longValue).max().orElseThrow());
    }
}
