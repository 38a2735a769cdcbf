package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.javakata.it.cri.v1.ContainerStats;
import io.javakata.it.cri.v1.ContainerStatsFilter;
import io.javakata.it.cri.v1.ContainerStatsRequest;
import io.javakata.it.cri.v1.LinuxContainerResources;
import io.javakata.it.cri.v1.ListContainerStatsRequest;
import io.javakata.it.cri.v1.PodSandboxStatsRequest;
import io.javakata.it.cri.v1.UpdateContainerResourcesRequest;

/**
 * Issue 3 item 4: ContainerStats, ListContainerStats and PodSandboxStats report real usage from the guest; and
 * item 6's Update through CRI: UpdateContainerResources reaches the container's cgroup in the guest.
 */
@Tag("containerd")
@Tag("qemu")
@Tag("cri")
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class StatsIT {

    private static final long MIB = 1 << 20;

    @RegisterExtension
    static final PrivateCri CRI = new PrivateCri();

    private static Pod pod;
    private static String hog;
    private static String idle;

    @BeforeAll
    static void pod() throws Exception {
        pod = CRI.runPod("stats-it");
        // Some CPU work, then awk holds a 16 MiB line (about 48 MiB of anonymous memory: it keeps copies).
        hog = pod.run("hog", "sh", "-c", "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; "
                + "head -c 16777216 /dev/zero | tr '\\0' a | awk '{ x = $0 } END { print \"ready\"; fflush(); system(\"sleep 3600\") }'");
        idle = pod.run("idle", "sleep", "3600");
        pod.awaitLog("hog", l -> l.endsWith(" stdout F ready"), Duration.ofSeconds(120));
    }

    @AfterAll
    static void teardown() {
        if (pod != null) {
            pod.close();
        }
    }

    private static ContainerStats stats(String id) {
        return CRI.cri().runtime().containerStats(ContainerStatsRequest.newBuilder().setContainerId(id).build()).getStats();
    }

    @Test
    void containerStatsShowTheGuestsCpuAndMemoryUse() {
        ContainerStats stats = stats(hog);
        assertEquals(hog, stats.getAttributes().getId());
        assertEquals("hog", stats.getAttributes().getMetadata().getName());
        long cpu = stats.getCpu().getUsageCoreNanoSeconds().getValue();
        long workingSet = stats.getMemory().getWorkingSetBytes().getValue();
        assertTrue(cpu > 50_000_000L, () -> "CPU use of a container that counted to 30000: " + cpu + " ns");
        assertTrue(workingSet > 30 * MIB, () -> "working set of a container holding about 48 MiB: " + workingSet);
        assertTrue(workingSet < 1024 * MIB, () -> "working set larger than the VM: " + workingSet);
        assertTrue(stats.getCpu().getTimestamp() > 0 && stats.getMemory().getTimestamp() > 0, stats::toString);
    }

    @Test
    void cpuUseGrowsAndAnIdleContainerUsesLittle() throws Exception {
        long before = stats(hog).getCpu().getUsageCoreNanoSeconds().getValue();
        pod.execOk(hog, "sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done");
        long after = stats(hog).getCpu().getUsageCoreNanoSeconds().getValue();
        // The exec runs in the container's cgroup.
        assertTrue(after > before, () -> "CPU use did not grow: " + before + " -> " + after);
        long idleSet = stats(idle).getMemory().getWorkingSetBytes().getValue();
        assertTrue(idleSet > 0 && idleSet < 20 * MIB, () -> "working set of `sleep`: " + idleSet);
    }

    @Test
    void listContainerStatsCoversThePodsContainers() {
        var list = CRI.cri().runtime().listContainerStats(ListContainerStatsRequest.newBuilder()
                .setFilter(ContainerStatsFilter.newBuilder().setPodSandboxId(pod.id())).build()).getStatsList();
        Set<String> ids = list.stream().map(s -> s.getAttributes().getId()).collect(Collectors.toSet());
        assertEquals(Set.of(hog, idle), ids);
        for (ContainerStats s : list) {
            assertTrue(s.getMemory().getWorkingSetBytes().getValue() > 0, s::toString);
        }
    }

    @Test
    void updateContainerResourcesReachesTheContainersCgroupInTheGuest() {
        CRI.cri().runtime().updateContainerResources(UpdateContainerResourcesRequest.newBuilder().setContainerId(idle)
                .setLinux(LinuxContainerResources.newBuilder().setMemoryLimitInBytes(96 * MIB)
                        .setCpuPeriod(100_000).setCpuQuota(50_000))
                .build());
        // The guest is cgroup v2; the container's cgroup is the path /proc/self/cgroup names, under the
        // mounted hierarchy (or the mount's root when runc gave the container a cgroup namespace).
        String read = "d=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup); [ -f \"$d/memory.max\" ] || d=/sys/fs/cgroup; "
                + "cat \"$d/memory.max\" \"$d/cpu.max\"";
        var response = pod.execSync(idle, Duration.ofSeconds(60), "sh", "-c", read);
        String out = response.getStdout().toStringUtf8();
        assertEquals(0, response.getExitCode(), () -> out + response.getStderr().toStringUtf8());
        assertEquals(String.valueOf(96 * MIB) + "\n50000 100000\n", out);
    }

    @Test
    void podStatsCountTheWholeVm() {
        var stats = CRI.cri().runtime().podSandboxStats(PodSandboxStatsRequest.newBuilder().setPodSandboxId(pod.id()).build()).getStats();
        assertEquals(pod.id(), stats.getAttributes().getId());
        long cpu = stats.getLinux().getCpu().getUsageCoreNanoSeconds().getValue();
        long memory = stats.getLinux().getMemory().getWorkingSetBytes().getValue();
        // The pod's cgroup holds the VM (QEMU, virtiofsd): its use exceeds the containers' inside it.
        assertTrue(cpu > stats(hog).getCpu().getUsageCoreNanoSeconds().getValue(), () -> "pod CPU " + cpu);
        assertTrue(memory > 30 * MIB, () -> "pod working set " + memory);
    }
}
