package io.javakata.guest.rpc;

import java.io.IOException;
import java.time.Duration;
import java.util.Map;

import io.containerd.cgroups.v2.CPUStat;
import io.containerd.cgroups.v2.IOEntry;
import io.containerd.cgroups.v2.IOStat;
import io.containerd.cgroups.v2.MemoryStat;
import io.containerd.cgroups.v2.Metrics;
import io.containerd.cgroups.v2.PidsStat;
import io.javakata.guest.cgroup.Cgroup;

/**
 * A cgroup v2 directory as {@code io.containerd.cgroups.v2.Metrics}, the way containerd's cgroups
 * library fills it (cgroups v2 {@code manager.go Stat}): cpu.stat, memory.current/max/stat,
 * memory.swap.*, pids.current/max and io.stat. A missing controller file leaves its fields at 0;
 * "max" limits read as the largest uint64, as in containerd.
 *
 * <p>memory.current is the cgroup's live page counter, while memory.stat shows per-CPU deltas the kernel folds in
 * lazily: when fewer updates than its batching threshold are pending it leaves them for the periodic flush, every
 * two seconds (Linux 6.1 mm/memcontrol.c, {@code mem_cgroup_flush_stats} and {@code FLUSH_TIME}). A small container
 * whose page cache was just uncharged can then read an inactive_file larger than its whole usage, and containerd's
 * CRI turns that into a working set of 0 (containerd v2.1.9 internal/cri/server/container_stats_list.go,
 * {@code getWorkingSet}). Such a reading is re-taken until the two agree or one flush period has passed.
 */
final class CgroupMetrics {

    /** How often, and how long at most, an inconsistent memory reading is re-taken: just over one flush period. */
    static final Duration RETRY_EVERY = Duration.ofMillis(200);
    static final int RETRIES = 12;

    /** Waits between two readings; a test passes its own. */
    @FunctionalInterface
    interface Pause {
        void pause(Duration d) throws InterruptedException;
    }

    private CgroupMetrics() {
    }

    static Metrics of(Cgroup cgroup) throws IOException {
        return of(cgroup, d -> Thread.sleep(d));
    }

    static Metrics of(Cgroup cgroup, Pause pause) throws IOException {
        return Metrics.newBuilder()
                .setPids(PidsStat.newBuilder()
                        .setCurrent(cgroup.single("pids.current").orElse(0))
                        .setLimit(cgroup.single("pids.max").orElse(-1L)))
                .setCpu(cpu(keyedOrEmpty(cgroup, "cpu.stat")))
                .setMemory(consistentMemory(cgroup, pause))
                .setIo(io(cgroup))
                .build();
    }

    private static CPUStat cpu(Map<String, Long> stat) {
        return CPUStat.newBuilder()
                .setUsageUsec(stat.getOrDefault("usage_usec", 0L))
                .setUserUsec(stat.getOrDefault("user_usec", 0L))
                .setSystemUsec(stat.getOrDefault("system_usec", 0L))
                .setNrPeriods(stat.getOrDefault("nr_periods", 0L))
                .setNrThrottled(stat.getOrDefault("nr_throttled", 0L))
                .setThrottledUsec(stat.getOrDefault("throttled_usec", 0L))
                .build();
    }

    private static MemoryStat consistentMemory(Cgroup cgroup, Pause pause) throws IOException {
        MemoryStat m = memory(cgroup);
        for (int i = 0; i < RETRIES && m.getInactiveFile() > m.getUsage(); i++) {
            try {
                pause.pause(RETRY_EVERY);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            m = memory(cgroup);
        }
        return m;
    }

    private static MemoryStat memory(Cgroup cgroup) throws IOException {
        Map<String, Long> s = keyedOrEmpty(cgroup, "memory.stat");
        return MemoryStat.newBuilder()
                .setAnon(s.getOrDefault("anon", 0L)).setFile(s.getOrDefault("file", 0L))
                .setKernelStack(s.getOrDefault("kernel_stack", 0L)).setSlab(s.getOrDefault("slab", 0L))
                .setSock(s.getOrDefault("sock", 0L)).setShmem(s.getOrDefault("shmem", 0L))
                .setFileMapped(s.getOrDefault("file_mapped", 0L)).setFileDirty(s.getOrDefault("file_dirty", 0L))
                .setFileWriteback(s.getOrDefault("file_writeback", 0L)).setAnonThp(s.getOrDefault("anon_thp", 0L))
                .setInactiveAnon(s.getOrDefault("inactive_anon", 0L)).setActiveAnon(s.getOrDefault("active_anon", 0L))
                .setInactiveFile(s.getOrDefault("inactive_file", 0L)).setActiveFile(s.getOrDefault("active_file", 0L))
                .setUnevictable(s.getOrDefault("unevictable", 0L))
                .setSlabReclaimable(s.getOrDefault("slab_reclaimable", 0L))
                .setSlabUnreclaimable(s.getOrDefault("slab_unreclaimable", 0L))
                .setPgfault(s.getOrDefault("pgfault", 0L)).setPgmajfault(s.getOrDefault("pgmajfault", 0L))
                .setWorkingsetRefault(s.getOrDefault("workingset_refault", 0L))
                .setWorkingsetActivate(s.getOrDefault("workingset_activate", 0L))
                .setWorkingsetNodereclaim(s.getOrDefault("workingset_nodereclaim", 0L))
                .setPgrefill(s.getOrDefault("pgrefill", 0L)).setPgscan(s.getOrDefault("pgscan", 0L))
                .setPgsteal(s.getOrDefault("pgsteal", 0L)).setPgactivate(s.getOrDefault("pgactivate", 0L))
                .setPgdeactivate(s.getOrDefault("pgdeactivate", 0L)).setPglazyfree(s.getOrDefault("pglazyfree", 0L))
                .setPglazyfreed(s.getOrDefault("pglazyfreed", 0L))
                .setThpFaultAlloc(s.getOrDefault("thp_fault_alloc", 0L))
                .setThpCollapseAlloc(s.getOrDefault("thp_collapse_alloc", 0L))
                .setUsage(cgroup.single("memory.current").orElse(0))
                .setUsageLimit(cgroup.single("memory.max").orElse(-1L))
                .setSwapUsage(cgroup.single("memory.swap.current").orElse(0))
                .setSwapLimit(cgroup.single("memory.swap.max").orElse(-1L))
                .build();
    }

    private static IOStat io(Cgroup cgroup) throws IOException {
        IOStat.Builder io = IOStat.newBuilder();
        for (Cgroup.IoEntry e : cgroup.ioStat()) {
            io.addUsage(IOEntry.newBuilder().setMajor(e.major()).setMinor(e.minor()).setRbytes(e.rbytes())
                    .setWbytes(e.wbytes()).setRios(e.rios()).setWios(e.wios()));
        }
        return io.build();
    }

    private static Map<String, Long> keyedOrEmpty(Cgroup cgroup, String file) throws IOException {
        try {
            return cgroup.keyed(file);
        } catch (java.nio.file.NoSuchFileException e) {
            return Map.of();
        }
    }
}
