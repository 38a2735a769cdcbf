package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;


/**
 * Issue 3 item 10: the VM's size. With no pod resources it has the configured defaults (1 vCPU, 512 MiB in the
 * default configuration.toml). (Sizing from pod resources is not in yet.)
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
}
