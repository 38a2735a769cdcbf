package io.javakata.guest.stats;

import com.google.protobuf.Empty;
import io.javakata.agent.v1.GuestStatsResponse;
import io.javakata.ttrpc.Errors;
import io.javakata.ttrpc.TtrpcServer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code GuestStats}: the guest's memory (/proc/meminfo), load averages (/proc/loadavg) and uptime (/proc/uptime) as
 * its kernel counts them (proc(5): /proc/meminfo, /proc/loadavg, /proc/uptime), for the pod's metrics on the host. Reads three small files
 * per call; stateless.
 */
public final class GuestStatsService {

    private static final String SERVICE = "javakata.agent.v1.Agent";

    private final Path proc;

    /** @param proc {@code /proc}, or a directory with the same three files in tests */
    public GuestStatsService(Path proc) {
        this.proc = proc;
    }

    public void register(TtrpcServer server) {
        server.registerUnary(SERVICE, "GuestStats", Empty.parser(), (ctx, q) -> stats());
    }

    GuestStatsResponse stats() {
        try {
            Map<String, Long> mem = meminfo(Files.readAllLines(proc.resolve("meminfo")));
            String[] load = Files.readString(proc.resolve("loadavg")).strip().split("\\s+");
            String[] uptime = Files.readString(proc.resolve("uptime")).strip().split("\\s+");
            return GuestStatsResponse.newBuilder()
                    .setMemTotal(mem.getOrDefault("MemTotal", 0L))
                    .setMemAvailable(mem.getOrDefault("MemAvailable", 0L))
                    .setMemFree(mem.getOrDefault("MemFree", 0L))
                    .setCached(mem.getOrDefault("Cached", 0L))
                    .setShmem(mem.getOrDefault("Shmem", 0L))
                    .setLoad1(Double.parseDouble(load[0]))
                    .setLoad5(Double.parseDouble(load[1]))
                    .setLoad15(Double.parseDouble(load[2]))
                    .setUptimeSeconds(Double.parseDouble(uptime[0]))
                    .build();
        } catch (IOException | RuntimeException e) {
            throw Errors.unknown(e, "guest stats from %s", proc);
        }
    }

    /** "MemTotal:  500000 kB" lines to bytes by key; lines without a kB unit are counts and kept as they are. */
    static Map<String, Long> meminfo(List<String> lines) {
        Map<String, Long> values = new HashMap<>();
        for (String line : lines) {
            int colon = line.indexOf(':');
            if (colon <= 0) {
                continue;
            }
            String[] parts = line.substring(colon + 1).strip().split("\\s+");
            try {
                long n = Long.parseLong(parts[0]);
                values.put(line.substring(0, colon), parts.length > 1 && parts[1].equals("kB") ? n * 1024 : n);
            } catch (NumberFormatException e) {
                // not a number: not one of ours
            }
        }
        return values;
    }
}
