package io.javakata.shim.diagnose;

import io.javakata.shim.sandbox.PodResource;
import io.javakata.shim.sandbox.SandboxState;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * The pod's host processes as {@code /proc} shows them: the shim and each process its journal names (QEMU, virtiofsd)
 * with their children, each with the telling lines of {@code status} (identity, memory, confinement), its cgroups and
 * its command line. A process is identified by pid and start time (/proc/[pid]/stat field 22), so a reused pid is
 * reported as gone. Stateless.
 */
final class HostProcessReport {

    /** The status lines worth reading: who it runs as, what it holds, how it is confined. */
    static final Set<String> STATUS = Set.of("Name", "State", "PPid", "Uid", "Gid", "Groups", "VmRSS", "VmHWM",
            "Threads", "CapEff", "CapPrm", "NoNewPrivs", "Seccomp");

    private HostProcessReport() {
    }

    static String of(Path proc, SandboxState journal, List<PodResource.HostProcess> processes) {
        var sb = new StringBuilder();
        if (journal != null) {
            // The shim's children are the VM's processes, listed on their own below.
            describe(sb, proc, "shim", journal.shimPid(), journal.shimStartTime(), false);
        }
        for (PodResource.HostProcess p : processes) {
            describe(sb, proc, p.role(), p.pid(), p.startTime(), true);
        }
        return sb.toString();
    }

    private static void describe(StringBuilder sb, Path proc, String role, long pid, long startTime,
                                 boolean children) {
        boolean alive = startTime != 0 && startTime(proc, pid) == startTime;
        sb.append(role).append(" pid ").append(pid).append(alive ? "" : " (gone)").append('\n');
        if (!alive) {
            return;
        }
        details(sb, proc, pid, "  ");
        for (long child : children ? descendants(pid) : List.<Long>of()) {
            sb.append("  child pid ").append(child).append('\n');
            details(sb, proc, child, "    ");
        }
    }

    private static void details(StringBuilder sb, Path proc, long pid, String indent) {
        Path dir = proc.resolve(Long.toString(pid));
        try {
            for (String line : Files.readAllLines(dir.resolve("status"))) {
                int colon = line.indexOf(':');
                if (colon > 0 && STATUS.contains(line.substring(0, colon))) {
                    sb.append(indent).append(line.replace('\t', ' ')).append('\n');
                }
            }
            for (String line : Files.readAllLines(dir.resolve("cgroup"))) {
                sb.append(indent).append("cgroup ").append(line).append('\n');
            }
            sb.append(indent).append("cmdline ").append(String.join(" ", argv(proc, pid))).append('\n');
        } catch (IOException | UncheckedIOException e) {
            sb.append(indent).append("(gone while being read)\n");
        }
    }

    /** Whether the journal's process still runs (same pid and start time). */
    static boolean alive(Path proc, PodResource.HostProcess p) {
        return p.startTime() != 0 && startTime(proc, p.pid()) == p.startTime();
    }

    /** Field 22 of /proc/[pid]/stat, 0 if the process is gone or a zombie. */
    static long startTime(Path proc, long pid) {
        try {
            String stat = Files.readString(proc.resolve(Long.toString(pid)).resolve("stat"));
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return fields[0].equals("Z") || fields[0].equals("X") ? 0 : Long.parseLong(fields[19]);
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    /** The process's arguments (/proc/[pid]/cmdline, NUL-separated). */
    static List<String> argv(Path proc, long pid) {
        try {
            String raw = new String(Files.readAllBytes(proc.resolve(Long.toString(pid)).resolve("cmdline")),
                    StandardCharsets.UTF_8);
            return List.of(raw.split("\0"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static List<Long> descendants(long pid) {
        return ProcessHandle.of(pid).map(h -> h.descendants().map(ProcessHandle::pid).toList()).orElse(List.of());
    }
}
