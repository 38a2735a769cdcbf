package io.javakata.shim.sandbox;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalLong;

/**
 * Reads host processes from /proc. A pid alone can be reused, so a process is identified by its
 * pid plus its start time (field 22 of /proc/[pid]/stat, in clock ticks since boot).
 */
public final class HostProcesses {

    private HostProcesses() {
    }

    /**
     * The start time of {@code pid}, or empty if no such process runs. A zombie (state Z or X) counts
     * as gone: a shim killed with SIGKILL stays a zombie until its parent reaps it, and containerd
     * runs {@code delete} at once.
     */
    public static OptionalLong startTime(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            // comm (field 2) may contain spaces and parentheses: fields after it start after the last ')'.
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            if (fields[0].equals("Z") || fields[0].equals("X")) {
                return OptionalLong.empty();
            }
            return OptionalLong.of(Long.parseLong(fields[19]));
        } catch (IOException | RuntimeException e) {
            return OptionalLong.empty();
        }
    }

    /** True if {@code pid} runs and started at {@code startTime} (not a reused pid). */
    public static boolean isAlive(long pid, long startTime) {
        if (pid <= 0) {
            return false;
        }
        OptionalLong actual = startTime(pid);
        return actual.isPresent() && actual.getAsLong() == startTime;
    }
}
