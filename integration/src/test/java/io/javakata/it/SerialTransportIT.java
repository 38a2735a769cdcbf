package io.javakata.it;

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
 * The virtio-serial transport through CRI, while the rest of the suite runs over hybrid vsock
 * ({@code -Djavakata.it.transport}): a pod of the private containerd's {@code javakata-serial} handler, whose
 * configuration sets {@code [agent] transport = "serial"} (scripts/containerd.sh). Its VM carries the agent's
 * virtio-serial port and no vsock device, no vhost-device-vsock runs for it, and the agent serves a container's
 * output, an exec and a stop over it; the pod then goes without leaving anything (PrivateContainerd's leak check).
 */
@Tag("containerd")
@Tag("qemu")
@Tag("cri")
@Timeout(value = 420, unit = TimeUnit.SECONDS)
class SerialTransportIT {

    static final String HANDLER = "javakata-serial";

    @RegisterExtension
    static final PrivateCri CRI = new PrivateCri();

    @Test
    void aPodOfTheSerialHandlerIsServedOverVirtioSerial() throws Exception {
        try (Pod pod = CRI.runPod(CRI.podConfig("serial-it", UnaryOperator.identity()), HANDLER)) {
            String sandbox = CRI.containerd().sandboxDir(pod.id()) + "/";
            List<Long> qemu = ofSandbox("qemu-system-x86_64", sandbox);
            assertEquals(1, qemu.size(), "one QEMU for the pod: " + qemu);
            String commandLine = PrivateContainerd.cmdline(qemu.getFirst());
            assertTrue(commandLine.contains("virtserialport,bus=vser0.0,chardev=agent,name=agent0"), commandLine);
            for (String vsock : List.of("vhost-user-vsock", "vhost-vsock-pci", "javakata.agent_vsock_port")) {
                assertFalse(commandLine.contains(vsock), "no vsock device and no vsock port for the agent: " + commandLine);
            }
            assertEquals(List.of(), ofSandbox("vhost-device-vsock", sandbox), "no hybrid vsock backend");

            String app = pod.run("app", "sh", "-c", "echo over-serial; sleep 3600");
            pod.awaitLog("app", line -> line.endsWith(" stdout F over-serial"), Duration.ofSeconds(120));
            assertEquals("exec over serial\n", pod.execOk(app, "echo", "exec", "over", "serial"));
            pod.stopContainer(app, 0);
            assertEquals(137, pod.awaitExit(app, Duration.ofSeconds(60)).getExitCode());
        }
    }

    private static List<Long> ofSandbox(String name, String sandbox) throws java.io.IOException {
        return CRI.containerd().processes(name).stream()
                .filter(pid -> PrivateContainerd.cmdline(pid).contains(sandbox)).toList();
    }
}
