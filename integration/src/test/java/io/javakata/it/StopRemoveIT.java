package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.javakata.it.cri.v1.ContainerState;
import io.javakata.it.cri.v1.ListContainersRequest;
import io.javakata.it.cri.v1.ListPodSandboxRequest;
import io.javakata.it.cri.v1.PodSandboxState;

/**
 * Issue 3 item 5: StopContainer (SIGTERM, then SIGKILL after the grace period), RemoveContainer, StopPodSandbox,
 * RemovePodSandbox; afterwards the VM and everything the pod made on the host are gone.
 */
@Tag("containerd")
@Tag("qemu")
@Tag("cri")
@Timeout(value = 300, unit = TimeUnit.SECONDS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class StopRemoveIT {

    @RegisterExtension
    static final PrivateCri CRI = new PrivateCri();

    private static Pod pod;

    @BeforeAll
    static void pod() throws Exception {
        pod = CRI.runPod("stop-it");
    }

    @AfterAll
    static void teardown() {
        if (pod != null) {
            pod.close();
        }
    }

    @Test
    @Order(1)
    void stopSendsSigtermFirst() throws Exception {
        String id = pod.run("polite", "sh", "-c", "trap 'echo got-term; exit 0' TERM; echo up; while :; do sleep 1; done");
        pod.awaitLog("polite", l -> l.endsWith(" stdout F up"), Duration.ofSeconds(60));
        long start = System.nanoTime();
        pod.stopContainer(id, 30);
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        var status = pod.containerStatus(id);
        assertEquals(ContainerState.CONTAINER_EXITED, status.getState());
        assertEquals(0, status.getExitCode(), status::toString);
        assertTrue(took.compareTo(Duration.ofSeconds(20)) < 0, () -> "StopContainer took " + took + " for a container that exits on SIGTERM");
        assertTrue(Files.readString(pod.logFile("polite")).contains(" stdout F got-term"));
        pod.removeContainer(id);
    }

    @Test
    @Order(2)
    void stopKillsAfterTheGracePeriod() throws Exception {
        String id = pod.run("stubborn", "sh", "-c", "trap '' TERM; echo up; while :; do sleep 1; done");
        pod.awaitLog("stubborn", l -> l.endsWith(" stdout F up"), Duration.ofSeconds(60));
        long start = System.nanoTime();
        pod.stopContainer(id, 3);
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        var status = pod.containerStatus(id);
        assertEquals(ContainerState.CONTAINER_EXITED, status.getState());
        assertEquals(137, status.getExitCode(), status::toString);
        assertTrue(took.compareTo(Duration.ofSeconds(3)) >= 0, () -> "killed before the grace period ended: " + took);
        pod.removeContainer(id);
        var left = CRI.cri().runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersList();
        assertEquals(List.of(), left);
    }

    @Test
    @Order(3)
    void stopAndRemoveOfThePodLeaveNothing() throws Exception {
        pod.run("last", "sleep", "3600");
        int vms = PrivateCri.HANDLER.equals("javakata") ? 1 : 0;
        assertEquals(vms, CRI.containerd().processes("qemu-system-x86_64").size(), "QEMU processes while the pod runs");
        pod.stop();
        assertEquals(PodSandboxState.SANDBOX_NOTREADY, pod.status().getState());
        assertEquals(List.of(), CRI.containerd().processes("qemu-system-x86_64"), "QEMU still runs after StopPodSandbox");
        pod.close();
        var pods = CRI.cri().runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList();
        assertEquals(List.of(), pods);
        assertEquals(List.of(), CRI.containerd().leaksAfter(Duration.ofSeconds(15)), "left behind by a removed pod");
        // containerd may still be running a shim's `delete` for the pod for a moment: allow it to end.
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        List<Long> naming = CRI.containerd().processes(pod.id());
        while (!naming.isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(200);
            naming = CRI.containerd().processes(pod.id());
        }
        var left = naming.stream().map(pid -> pid + ": " + PrivateContainerd.cmdline(pid)).toList();
        assertEquals(List.of(), left, "processes that name the pod");
    }
}
