package io.javakata.shim.metrics;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * The CPU time and resident memory of a host process, from {@code /proc/<pid>/stat} (utime and stime, fields 14 and 15,
 * in USER_HZ ticks of 1/100 s) and {@code /proc/<pid>/status} ({@code VmRSS}, kB); proc(5).
 *
 * @param cpuTicks      user plus system CPU time, in USER_HZ ticks
 * @param residentBytes resident set size
 */
public record ProcessUsage(long cpuTicks, long residentBytes) {

    static final double USER_HZ = 100.0;
    static final ProcessUsage NONE = new ProcessUsage(0, 0);

    /** The usage of {@code pid} as {@code proc} shows it; empty if it is gone or unreadable. */
    static Optional<ProcessUsage> of(Path proc, long pid) {
        try {
            String stat = Files.readString(proc.resolve(Long.toString(pid)).resolve("stat"));
            // comm (field 2) may hold spaces and parentheses: the fields after it start after the last ')'.
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            long cpu = Long.parseLong(fields[11]) + Long.parseLong(fields[12]);
            long rssKb = Files.readAllLines(proc.resolve(Long.toString(pid)).resolve("status")).stream()
                    .filter(l -> l.startsWith("VmRSS:")).findFirst()
                    .map(l -> Long.parseLong(l.substring(6).strip().split("\\s+")[0])).orElse(0L);
            return Optional.of(new ProcessUsage(cpu, rssKb * 1024));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** The sum over {@code pid} and {@code descendants} (virtiofsd serves from a forked worker); gone ones count 0. */
    static ProcessUsage tree(Path proc, long pid, List<Long> descendants) {
        ProcessUsage sum = of(proc, pid).orElse(NONE);
        for (long child : descendants) {
            sum = sum.plus(of(proc, child).orElse(NONE));
        }
        return sum;
    }

    /** The descendants of a live process, from the kernel's process tree; empty if it is gone. */
    static List<Long> descendants(long pid) {
        return ProcessHandle.of(pid).map(h -> h.descendants().map(ProcessHandle::pid).toList()).orElse(List.of());
    }

    ProcessUsage plus(ProcessUsage other) {
        return new ProcessUsage(cpuTicks + other.cpuTicks, residentBytes + other.residentBytes);
    }

    double cpuSeconds() {
        return cpuTicks / USER_HZ;
    }
}
