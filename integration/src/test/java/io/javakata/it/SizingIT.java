package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.javakata.it.cri.v1.LinuxContainerResources;

/**
 * Issue 3 item 10: the VM's size. With no pod resources it has the configured defaults (1 vCPU, 512 MiB in the
 * default configuration.toml); with pod-level resources (which containerd 1.6 passes to the runtime as the
 * sandbox-cpu-quota/-period and sandbox-memory annotations) it gets the defaults plus the pod's limits, as
 * Kata sizes a sandbox: vCPUs + ceil(quota / period), memory + the pod's memory limit. The vCPU count is capped at
 * the host's CPU count (SandboxSizing: a VM with more vCPUs than the host has only adds contention).
 */
@Tag("containerd")
@Tag("qemu")
@Tag("cri")
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class SizingIT {

    private static final long MIB = 1 << 20;

    @RegisterExtension
    static final PrivateCri CRI = new PrivateCri();

    private static final String PROBE = "echo cpus=$(nproc); echo mem=$(grep MemTotal /proc/meminfo | tr -dc 0-9); sleep 3600";

    /** {cpus, MemTotal in MiB} as the container printed them to its log. */
    private static long[] probe(Pod pod) throws Exception {
        var lines = pod.awaitLog("probe", l -> l.contains(" stdout F mem="), Duration.ofSeconds(90));
        long cpus = -1;
        long mem = -1;
        for (String line : lines) {
            String content = line.split(" ", 4)[3];
            if (content.startsWith("cpus=")) {
                cpus = Long.parseLong(content.substring(5));
            } else if (content.startsWith("mem=")) {
                mem = Long.parseLong(content.substring(4)) / 1024;
            }
        }
        return new long[] {cpus, mem};
    }

    @Test
    void aPodWithoutResourcesGetsTheDefaults() throws Exception {
        try (Pod pod = CRI.runPod("sizing-default")) {
            pod.run("probe", "sh", "-c", PROBE);
            long[] probe = probe(pod);
            assertEquals(1, probe[0], "vCPUs");
            long mem = probe[1];
            assertTrue(mem > 400 && mem <= 512, () -> "MemTotal of a default VM: " + mem + " MiB");
        }
    }

    @Test
    void podResourcesAreAddedToTheDefaults() throws Exception {
        var resources = LinuxContainerResources.newBuilder().setCpuPeriod(100_000).setCpuQuota(150_000).setCpuShares(1536)
                .setMemoryLimitInBytes(256 * MIB).build();
        var config = CRI.podConfig("sizing-sized", b -> {
            b.getLinuxBuilder().setResources(resources);
            return b;
        });
        try (Pod pod = CRI.runPod(config, PrivateCri.HANDLER)) {
            pod.run("probe", b -> {
                b.getLinuxBuilder().setResources(resources);
                return b;
            }, "sh", "-c", PROBE);
            long[] probe = probe(pod);
            int hostCpus = Runtime.getRuntime().availableProcessors();
            assertEquals(Math.min(3, hostCpus), probe[0], "1 default vCPU + ceil(150000 / 100000), at most the host's " + hostCpus);
            long mem = probe[1];
            assertTrue(mem > 400 + 256 && mem <= 512 + 256, () -> "MemTotal of a VM sized 512 + 256 MiB: " + mem + " MiB");
        }
    }
}
