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
import io.javakata.it.cri.v1.ListPodSandboxRequest;
import io.javakata.it.cri.v1.RunPodSandboxRequest;

/**
 * Issue 3 item 11: bad requests get clear errors and leave nothing behind: an unknown runtime handler, an
 * entrypoint that does not exist, a container in a pod whose VM died, a second start of a started container.
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
    void anUnknownRuntimeHandlerIsRefused() throws Exception {
        var config = CRI.podConfig("bad-handler", b -> b);
        var e = assertThrows(StatusRuntimeException.class, () -> CRI.cri().runtime()
                .runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(config).setRuntimeHandler("nosuchhandler").build()));
        assertTrue(e.getMessage().contains("nosuchhandler"), e.getMessage());
        assertNothingLeft();
    }

    @Test
    void aMissingEntrypointAndASecondStartFailClearly() throws Exception {
        try (Pod pod = CRI.runPod("bad-requests")) {
            String missing = pod.create(pod.containerConfig("missing", "/no/such/binary").build());
            var e = assertThrows(StatusRuntimeException.class, () -> pod.start(missing));
            assertTrue(e.getMessage().contains("/no/such/binary"), e.getMessage());
            var status = pod.containerStatus(missing);
            assertEquals(ContainerState.CONTAINER_EXITED, status.getState(), status::toString);
            pod.removeContainer(missing);

            String running = pod.run("running", "sleep", "3600");
            var again = assertThrows(StatusRuntimeException.class, () -> pod.start(running));
            assertTrue(again.getMessage().contains("RUNNING"), again.getMessage());
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
            // The container whose VM died ends (CRI learns it through Wait).
            var status = pod.awaitExit(before, Duration.ofSeconds(60));
            assertTrue(status.getExitCode() != 0, status::toString);
            var e = assertThrows(StatusRuntimeException.class, () -> pod.run("after", "sleep", "3600"));
            assertTrue(e.getMessage().toLowerCase().matches("(?s).*(vm|sandbox|not running|qemu|dead|closed).*"), e.getMessage());
        }
        assertNothingLeft();
    }
}
