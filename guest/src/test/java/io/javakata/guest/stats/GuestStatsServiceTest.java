package io.javakata.guest.stats;

import io.javakata.agent.v1.GuestStatsResponse;
import io.javakata.ttrpc.RuntimeStatusException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(10)
class GuestStatsServiceTest {

    @TempDir
    Path proc;

    @Test
    void readsMemoryLoadAndUptimeAsTheGuestKernelWritesThem() throws Exception {
        Files.writeString(proc.resolve("meminfo"), """
                MemTotal:         482628 kB
                MemFree:          301020 kB
                MemAvailable:     395168 kB
                Buffers:               0 kB
                Cached:           130020 kB
                Shmem:             88496 kB
                HugePages_Total:       0
                """);
        Files.writeString(proc.resolve("loadavg"), "0.52 0.17 0.06 2/61 412\n");
        Files.writeString(proc.resolve("uptime"), "31.47 25.02\n");
        GuestStatsResponse stats = new GuestStatsService(proc).stats();
        assertEquals(482628L * 1024, stats.getMemTotal());
        assertEquals(395168L * 1024, stats.getMemAvailable());
        assertEquals(301020L * 1024, stats.getMemFree());
        assertEquals(130020L * 1024, stats.getCached());
        assertEquals(88496L * 1024, stats.getShmem());
        assertEquals(0.52, stats.getLoad1());
        assertEquals(0.17, stats.getLoad5());
        assertEquals(0.06, stats.getLoad15());
        assertEquals(31.47, stats.getUptimeSeconds());
        assertEquals(0L, GuestStatsService.meminfo(java.util.List.of("HugePages_Total:       0")).get(
                "HugePages_Total"));
    }

    @Test
    void aMissingFileIsAnErrorNamingIt() {
        var e = assertThrows(RuntimeStatusException.class, () -> new GuestStatsService(proc).stats());
        assertTrue(e.getMessage().contains("meminfo"), e.getMessage());
    }
}
