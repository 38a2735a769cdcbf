package io.javakata.hypervisor;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

/**
 * How long a host process's threads have run on a CPU and how long they have waited, runnable, for one, summed over
 * its threads: the first two fields of each {@code /proc/<pid>/task/<tid>/schedstat} (nanoseconds; Linux
 * {@code Documentation/scheduler/sched-stats.rst}, "/proc/&lt;pid&gt;/schedstat": "time spent on the cpu" and "time
 * spent waiting on a runqueue"). A process stopped by a signal, or one whose threads all sleep, adds to neither.
 *
 * @param onCpu   total time on a CPU
 * @param waiting total time runnable but waiting for a CPU
 */
public record SchedStat(Duration onCpu, Duration waiting) {

    /** What {@code pid}'s threads show now; empty if the process is gone or the kernel keeps no such statistics. */
    public static Optional<SchedStat> ofProcess(long pid) {
        return of(Path.of("/proc", Long.toString(pid), "task"));
    }

    /** The sum over the {@code <tid>/schedstat} files under {@code taskDir}; empty if there are none. */
    static Optional<SchedStat> of(Path taskDir) {
        long run = 0;
        long wait = 0;
        int threads = 0;
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(taskDir)) {
            for (Path task : tasks) {
                String[] fields;
                try {
                    fields = Files.readString(task.resolve("schedstat")).trim().split("\\s+");
                } catch (IOException e) {
                    continue; // the thread ended since the listing
                }
                if (fields.length < 2) {
                    continue;
                }
                try {
                    run += Long.parseLong(fields[0]);
                    wait += Long.parseLong(fields[1]);
                    threads++;
                } catch (NumberFormatException e) {
                    // not the format documented: left out
                }
            }
        } catch (IOException e) {
            return Optional.empty();
        }
        return threads == 0 ? Optional.empty()
                : Optional.of(new SchedStat(Duration.ofNanos(run), Duration.ofNanos(wait)));
    }

    /** What was added between {@code earlier} and this sample. */
    public SchedStat since(SchedStat earlier) {
        return new SchedStat(onCpu.minus(earlier.onCpu), waiting.minus(earlier.waiting));
    }
}
