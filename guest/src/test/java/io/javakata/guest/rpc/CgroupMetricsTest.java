package io.javakata.guest.rpc;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import io.containerd.cgroups.v2.Metrics;
import io.javakata.guest.cgroup.Cgroup;

/** A cgroup directory as containerd's metrics, including memory.stat lagging behind memory.current. */
@Timeout(10)
class CgroupMetricsTest {

    @TempDir
    Path dir;

    private void write(long current, long inactiveFile) throws IOException {
        Files.writeString(dir.resolve("memory.current"), current + "\n");
        Files.writeString(dir.resolve("memory.stat"),
                "anon 139264\nfile " + inactiveFile + "\ninactive_file " + inactiveFile + "\nactive_file 0\n");
    }

    @Test
    void aConsistentReadingIsTakenOnce() throws Exception {
        write(1_048_576, 524_288);
        Files.writeString(dir.resolve("memory.max"), "max\n");
        Files.writeString(dir.resolve("cpu.stat"), "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n");
        List<Duration> pauses = new ArrayList<>();
        Metrics m = CgroupMetrics.of(new Cgroup(dir), pauses::add);
        assertEquals(List.of(), pauses);
        assertEquals(1_048_576, m.getMemory().getUsage());
        assertEquals(524_288, m.getMemory().getInactiveFile());
        assertEquals(139_264, m.getMemory().getAnon());
        assertEquals(-1L, m.getMemory().getUsageLimit(), "max reads as the largest uint64");
        assertEquals(1500, m.getCpu().getUsageUsec());
    }

    @Test
    void aStaleMemoryStatIsReadAgainAfterTheKernelFlushedIt() throws Exception {
        write(1_048_576, 4_194_304); // inactive_file above the whole usage: memory.stat not yet flushed
        List<Duration> pauses = new ArrayList<>();
        Metrics m = CgroupMetrics.of(new Cgroup(dir), d -> {
            pauses.add(d);
            if (pauses.size() == 3) {
                try {
                    write(1_048_576, 262_144);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        });
        assertEquals(3, pauses.size());
        assertEquals(1_048_576, m.getMemory().getUsage());
        assertEquals(262_144, m.getMemory().getInactiveFile(), "the flushed reading");
    }

    @Test
    void aReadingThatStaysInconsistentIsReportedAfterOneFlushPeriod() throws Exception {
        write(1_048_576, 4_194_304);
        List<Duration> pauses = new ArrayList<>();
        Metrics m = CgroupMetrics.of(new Cgroup(dir), pauses::add);
        assertEquals(CgroupMetrics.RETRIES, pauses.size());
        Duration waited = pauses.stream().reduce(Duration.ZERO, Duration::plus);
        assertEquals(true, waited.compareTo(Duration.ofSeconds(2)) > 0 && waited.compareTo(Duration.ofSeconds(3)) < 0,
                () -> "waited " + waited);
        assertEquals(4_194_304, m.getMemory().getInactiveFile(), "reported as read, not made up");
    }
}
