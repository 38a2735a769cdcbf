package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.grpc.StatusRuntimeException;
import io.javakata.it.cri.v1.ContainerState;
import io.javakata.it.cri.v1.LinuxSandboxSecurityContext;
import io.javakata.it.cri.v1.ListPodSandboxRequest;
import io.javakata.it.cri.v1.NamespaceMode;
import io.javakata.it.cri.v1.NamespaceOption;

/**
 * Issue 3 item 11: bad requests get clear errors and leave nothing behind: a pod on the host's network (or, issue
 * 9, asking for the host's PID or IPC namespace), an entrypoint that does not exist, a container in a pod whose VM
 * died, a second start of a started container.
 * Each test asserts the whole error javakata gives, or the one containerd gives where it refuses before the runtime
 * is asked (a second start; a container in a pod whose sandbox task javakata reported gone), so a vaguer or
 * different error fails it.
 */
@Tag("containerd")
@Tag("qemu")
@Tag("cri")
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class BadRequestIT {

    @RegisterExtension
    static final PrivateCri CRI = new PrivateCri();

    private static void assertNothingLeft() throws Exception {
        assertEquals(List.of(), CRI.cri().runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList());
        assertEquals(List.of(), CRI.containerd().leaksAfter(Duration.ofSeconds(15)));
    }

    @Test
    void aPodOnTheHostsNetworkIsRefusedByJavakataWithNothingLeft() throws Exception {
        var config = CRI.podConfig("bad-host-network", b -> b.setLinux(b.getLinux().toBuilder().setSecurityContext(
                LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(NamespaceOption.newBuilder()
                        .setNetwork(NamespaceMode.NODE).setPid(NamespaceMode.CONTAINER).setIpc(NamespaceMode.POD)))));
        var e = assertThrows(StatusRuntimeException.class, () -> CRI.runPod(config, "javakata"));
        assertTrue(e.getMessage().contains("linux.namespaces has no network namespace: the pod uses the host's network "
                + "(hostNetwork), and a VM cannot share the host's network namespace; run such pods with runc"),
                e.getMessage());
        assertNothingLeft();
    }

    /** Issue 9 item 3: the host's PID or IPC namespace cannot reach into a VM, and the guest's hold the agent. */
    @Test
    void aPodAskingForTheHostsPidOrIpcNamespaceIsRefusedByJavakataWithNothingLeft() throws Exception {
        var hostPid = CRI.podConfig("bad-host-pid", b -> b.setLinux(b.getLinux().toBuilder().setSecurityContext(
                LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(NamespaceOption.newBuilder()
                        .setNetwork(NamespaceMode.POD).setPid(NamespaceMode.NODE).setIpc(NamespaceMode.POD)))));
        var pid = assertThrows(StatusRuntimeException.class, () -> CRI.runPod(hostPid, "javakata"));
        assertTrue(pid.getMessage().contains("linux.namespaces has no pid namespace: the pod asks for the host's PID "
                + "namespace (hostPID); javakata runs every container in namespaces of its own inside the pod VM, "
                + "because the VM cannot share the host's and the guest's own hold the javakata agent; run such pods "
                + "with runc"), pid.getMessage());
        assertNothingLeft();
        var hostIpc = CRI.podConfig("bad-host-ipc", b -> b.setLinux(b.getLinux().toBuilder().setSecurityContext(
                LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(NamespaceOption.newBuilder()
                        .setNetwork(NamespaceMode.POD).setPid(NamespaceMode.CONTAINER).setIpc(NamespaceMode.NODE)))));
        var ipc = assertThrows(StatusRuntimeException.class, () -> CRI.runPod(hostIpc, "javakata"));
        assertTrue(ipc.getMessage().contains("linux.namespaces has no ipc namespace: the pod asks for the host's IPC "
                + "namespace (hostIPC)"), ipc.getMessage());
        assertNothingLeft();
    }

    @Test
    void aMissingEntrypointAndASecondStartFailClearly() throws Exception {
        try (Pod pod = CRI.runPod("bad-requests")) {
            String missing = pod.create(pod.containerConfig("missing", "/no/such/binary").build());
            var e = assertThrows(StatusRuntimeException.class, () -> pod.start(missing));
            // The guest's crun names the path at create: "crun create <id> failed (exit 1): executable file
            // `/no/such/binary` not found: No such file or directory"; runc (on a node, -Djavakata.it.handler=runc):
            // "exec: \"/no/such/binary\": stat /no/such/binary: no such file or directory".
            String message = e.getMessage();
            assertTrue(message.contains("crun create " + missing + " failed (exit 1): executable file `/no/such/binary` "
                    + "not found: No such file or directory") || message.contains("unable to start container process: "
                    + "exec: \"/no/such/binary\": stat /no/such/binary: no such file or directory"), message);
            var status = pod.containerStatus(missing);
            assertEquals(ContainerState.CONTAINER_EXITED, status.getState(), status::toString);
            pod.removeContainer(missing);

            String running = pod.run("running", "sleep", "3600");
            // containerd's CRI refuses this itself, before it asks the runtime.
            var again = assertThrows(StatusRuntimeException.class, () -> pod.start(running));
            assertTrue(again.getMessage().endsWith("failed to set starting state for container \"" + running
                    + "\": container is in CONTAINER_RUNNING state"), again.getMessage());
            assertEquals(ContainerState.CONTAINER_RUNNING, pod.containerStatus(running).getState());
        }
        assertNothingLeft();
    }

    @Test
    void aContainerInAPodWhoseVmDiedFailsClearly() throws Exception {
        try (Pod pod = CRI.runPod("dead-vm")) {
            String before = pod.run("before", "sleep", "3600");
            var qemus = CRI.containerd().processes("qemu-system-x86_64");
            assertEquals(1, qemus.size(), () -> "QEMU processes: " + qemus);
            ProcessHandle qemu = ProcessHandle.of(qemus.getFirst()).orElseThrow();
            qemu.destroyForcibly();
            qemu.onExit().get(30, TimeUnit.SECONDS);
            // The container whose VM died ends with javakata's status for a lost guest (CRI learns it through Wait).
            var status = pod.awaitExit(before, Duration.ofSeconds(60));
            assertEquals(255, status.getExitCode(), status::toString);
            // javakata reported the pod's sandbox task gone with its VM, so containerd refuses a new container itself.
            var e = assertThrows(StatusRuntimeException.class, () -> pod.run("after", "sleep", "3600"));
            assertTrue(e.getMessage().contains("failed to get sandbox container task: no running task found: task "
                    + pod.id() + " not found"), e.getMessage());
        }
        assertNothingLeft();
    }
}
