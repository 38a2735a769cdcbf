package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.javakata.it.cri.v1.PodSandboxState;

/** Issue 3 item 1: one pod, one VM; its containers share the VM, the network and IPC namespaces. */
@Tag("containerd")
@Tag("qemu")
@Tag("cri")
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class PodIT {

    @RegisterExtension
    static final PrivateCri CRI = new PrivateCri();

    private static final Duration WAIT = Duration.ofSeconds(90);
    /** What each container reports at start (through its log, so that this class needs no exec). */
    private static final String REPORT = "echo boot=$(cat /proc/sys/kernel/random/boot_id); "
            + "for n in net ipc uts; do echo $n=$(readlink /proc/self/ns/$n); done; echo host=$(hostname); ";

    private static Pod pod;

    @BeforeAll
    static void runPodWithTwoContainers() throws Exception {
        pod = CRI.runPod("pod-it");
        // The first writes to the pod's /dev/shm and serves one TCP answer on the pod's loopback.
        pod.run("first", "sh", "-c", REPORT + "echo shared > /dev/shm/jkit-ipc; echo ready; "
                + "nc -l -p 7777 -e echo pong; sleep 3600");
        pod.awaitLog("first", l -> l.endsWith(" stdout F ready"), WAIT);
        pod.run("second", "sh", "-c", REPORT + "echo shm=$(cat /dev/shm/jkit-ipc); "
                + "for i in 1 2 3 4 5 6 7 8 9 10; do nc 127.0.0.1 7777 </dev/null | sed 's/^/tcp=/' | grep . && break; sleep 1; done; "
                + "echo done; sleep 3600");
        pod.awaitLog("second", l -> l.endsWith(" stdout F done"), WAIT);
    }

    @AfterAll
    static void teardown() {
        if (pod != null) {
            pod.close();
        }
    }

    private static Map<String, String> report(String name) throws Exception {
        var report = new HashMap<String, String>();
        for (String line : Files.readAllLines(pod.logFile(name))) {
            String content = line.split(" ", 4)[3];
            int eq = content.indexOf('=');
            if (eq > 0) {
                report.put(content.substring(0, eq), content.substring(eq + 1));
            }
        }
        return report;
    }

    @Test
    void thePodIsReadyWithAnAddressOnTheCniNetwork() {
        var status = pod.status();
        assertEquals(PodSandboxState.SANDBOX_READY, status.getState());
        assertEquals(PrivateCri.HANDLER, status.getRuntimeHandler());
        assertTrue(status.getNetwork().getIp().startsWith("10.213."), () -> "pod IP " + status.getNetwork().getIp());
    }

    @Test
    void bothContainersRunInOneVm() throws Exception {
        String hostBootId = Files.readString(Path.of("/proc/sys/kernel/random/boot_id")).strip();
        String bootFirst = report("first").get("boot");
        String bootSecond = report("second").get("boot");
        assertTrue(bootFirst != null && bootFirst.matches("[0-9a-f-]{36}"), () -> "boot id " + bootFirst);
        assertEquals(bootFirst, bootSecond, "the two containers run on different kernels");
        assertNotEquals(hostBootId, bootFirst, "the containers run on the host's kernel");
        var qemus = CRI.containerd().processes("qemu-system-x86_64");
        assertEquals(1, qemus.size(), () -> "QEMU processes for one pod: " + qemus);
    }

    @Test
    void containersShareNetworkIpcAndUtsNamespaces() throws Exception {
        var first = report("first");
        var second = report("second");
        for (String ns : new String[] {"net", "ipc", "uts"}) {
            assertTrue(first.get(ns).startsWith(ns + ":["), () -> ns + " of the first: " + first.get(ns));
            assertEquals(first.get(ns), second.get(ns), ns + " namespace differs between the pod's containers");
        }
        assertEquals("pod-it", second.get("host"));
        assertEquals("shared", second.get("shm"), "the second container does not see the first's /dev/shm file");
        assertEquals("pong", second.get("tcp"), "the second container did not reach the first over the pod's loopback");
    }
}
