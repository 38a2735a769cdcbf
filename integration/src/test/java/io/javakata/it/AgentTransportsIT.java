package io.javakata.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Each agent transport this host can run, through CRI, whatever the suite's handler picks ({@code transport =
 * "auto"}: vsock where /dev/vhost-vsock exists, else virtio-serial). A pod of the {@code javakata-serial} handler
 * ({@code [agent] transport = "serial"}) carries the agent's virtio-serial port and no vsock device, and no
 * vhost-device-vsock runs for it; a pod of the {@code javakata-hvsock} handler ({@code transport = "hybrid-vsock"},
 * cold boots; scripts/containerd.sh) has a vhost-user-vsock device on one vhost-device-vsock, which runs with no
 * capability at all and no new privileges in its QEMU's cgroups, and its QEMU (booted, not restored) is as confined
 * as any. Over each the agent serves a container's output, an exec and a stop; the pods then go without leaving
 * anything (PrivateContainerd's leak check).
 */
@Tag("containerd")
@Tag("qemu")
@Tag("cri")
@Timeout(value = 420, unit = TimeUnit.SECONDS)
class AgentTransportsIT {

    @RegisterExtension
    static final PrivateCri CRI = new PrivateCri();

    @Test
    void aPodOfTheSerialHandlerIsServedOverVirtioSerial() throws Exception {
        try (Pod pod = CRI.runPod(CRI.podConfig("serial-it", UnaryOperator.identity()), "javakata-serial")) {
            String commandLine = PrivateContainerd.cmdline(onlyProcess("qemu-system-x86_64", pod));
            assertTrue(commandLine.contains("virtserialport,bus=vser0.0,chardev=agent,name=agent0"), commandLine);
            for (String vsock : List.of("vhost-user-vsock", "vhost-vsock-pci", "javakata.agent_vsock_port")) {
                assertFalse(commandLine.contains(vsock), "no vsock device and no vsock port for the agent: " + commandLine);
            }
            assertEquals(List.of(), CRI.containerd().processesOf("vhost-device-vsock", pod.id()),
                    "no hybrid vsock backend");
            servesAContainer(pod, "over-serial");
        }
    }

    @Test
    void aPodOfTheHybridVsockHandlerIsServedThroughItsConfinedBackend() throws Exception {
        try (Pod pod = CRI.runPod(CRI.podConfig("hvsock-it", UnaryOperator.identity()), PrivateCri.HVSOCK_HANDLER)) {
            String sandbox = CRI.containerd().sandboxDir(pod.id()) + "/";
            long qemu = onlyProcess("qemu-system-x86_64", pod);
            String commandLine = PrivateContainerd.cmdline(qemu);
            assertTrue(commandLine.contains("vhost-user-vsock-pci,chardev=vsockbe,id=vsock0")
                    || commandLine.contains("vhost-user-vsock-device,chardev=vsockbe,id=vsock0"), commandLine);
            assertFalse(commandLine.contains(" -incoming "), "a hybrid vsock pod boots its VM: " + commandLine);
            ProcStatus vmm = ProcStatus.of(qemu);
            assertEquals(0L, vmm.capEff(), "a booted QEMU's effective capabilities: " + vmm);
            assertEquals(2, vmm.seccomp(), "a booted QEMU runs under its seccomp filter: " + vmm);

            long backend = onlyProcess("vhost-device-vsock", pod);
            ProcStatus status = ProcStatus.of(backend);
            assertEquals(0L, status.capEff(), "the backend's effective capabilities: " + status);
            assertEquals(0L, status.capPrm(), "the backend's permitted capabilities: " + status);
            assertEquals(0L, status.capBnd(), "the backend's bounding set: " + status);
            assertEquals(1, status.noNewPrivs(), status.toString());
            assertEquals(Files.readString(Path.of("/proc", Long.toString(qemu), "cgroup")),
                    Files.readString(Path.of("/proc", Long.toString(backend), "cgroup")), "in QEMU's cgroups, the pod's");
            assertTrue(PrivateContainerd.cmdline(backend).contains("--vm guest-cid=3,socket=" + sandbox
                    + "vsock-backend.sock,uds-path=" + sandbox + "hvsock.sock"), PrivateContainerd.cmdline(backend));
            servesAContainer(pod, "over-hybrid-vsock");
        }
    }

    /** A container's first line reaches its CRI log, an exec answers, and a stop ends it. */
    private static void servesAContainer(Pod pod, String word) throws Exception {
        String app = pod.run("app", "sh", "-c", "echo " + word + "; sleep 3600");
        pod.awaitLog("app", line -> line.endsWith(" stdout F " + word), Duration.ofSeconds(120));
        assertEquals("exec " + word + "\n", pod.execOk(app, "echo", "exec", word));
        pod.stopContainer(app, 0);
        assertEquals(137, pod.awaitExit(app, Duration.ofSeconds(60)).getExitCode());
    }

    private static long onlyProcess(String name, Pod pod) throws IOException {
        List<Long> pids = CRI.containerd().processesOf(name, pod.id());
        assertEquals(1, pids.size(), () -> "one " + name + " for the pod: " + pids);
        return pids.getFirst();
    }
}
