package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.javakata.it.cri.v1.LinuxContainerResources;

/** Issue 3 item 7: a container over its memory limit ends with reason OOMKilled and exit code 137, every time. */
@Tag("containerd")
@Tag("qemu")
@Tag("cri")
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class OomIT {

    @RegisterExtension
    static final PrivateCri CRI = new PrivateCri();

    private static Pod pod;

    @BeforeAll
    static void pod() throws Exception {
        pod = CRI.runPod("oom-it");
    }

    @AfterAll
    static void teardown() {
        if (pod != null) {
            pod.close();
        }
    }

    @Test
    void overTheMemoryLimitIsOomKilledEveryTime() throws Exception {
        for (int i = 1; i <= 3; i++) {
            String name = "hog-" + i;
            String id = pod.run(name, b -> {
                b.getLinuxBuilder().setResources(LinuxContainerResources.newBuilder().setMemoryLimitInBytes(32L << 20));
                return b;
            },
                    // tail keeps a line-less input whole in memory: 100 MiB of zeros pass the 32 MiB limit within
                    // seconds even under TCG; the kernel kills tail and sh exits 128+9.
                    "sh", "-c", "head -c 100m /dev/zero | tail");
            var status = pod.awaitExit(id, Duration.ofSeconds(60));
            int round = i;
            assertEquals("OOMKilled", status.getReason(), () -> "round " + round + ": " + status);
            assertEquals(137, status.getExitCode(), () -> "round " + round + ": " + status);
            pod.removeContainer(id);
        }
    }
}
