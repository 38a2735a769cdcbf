package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.javakata.it.cri.v1.ContainerConfig;
import io.javakata.it.cri.v1.ContainerState;
import io.javakata.it.cri.v1.ContainerStatus;
import io.javakata.it.cri.v1.ImageSpec;
import io.javakata.it.cri.v1.LinuxContainerSecurityContext;
import io.javakata.it.cri.v1.LinuxSandboxSecurityContext;
import io.javakata.it.cri.v1.ListPodSandboxRequest;
import io.javakata.it.cri.v1.NamespaceMode;
import io.javakata.it.cri.v1.NamespaceOption;
import io.javakata.it.cri.v1.PodSandboxConfig;
import io.javakata.it.cri.v1.PodSandboxFilter;
import io.javakata.it.cri.v1.PortForwardRequest;
import io.javakata.it.cri.v1.RemovePodSandboxRequest;
import io.javakata.it.cri.v1.StopContainerRequest;
import io.javakata.it.cri.v1.StopPodSandboxRequest;

/**
 * Issue 8 item 1: stopping pods never hangs. A pod running Debian's nginx (a master and a worker that inherits the
 * master's stdout), killed at once (grace 0, as the report had it) or stopped with SIGTERM, with its own PID
 * namespace or the pod's, with a CRI PortForward connection to port 80 open, and containers that leave a background
 * child holding stdout: StopContainer, StopPodSandbox and RemovePodSandbox each finish within their grace period plus
 * {@link #SLACK} (StopPodSandbox: plus {@link #PER_CONTAINER} for each container it has to stop), enforced as the CRI
 * call's deadline. Every byte written before the kill reaches the log. runc's shim
 * behaves so: when the init of a container without a PID namespace of its own exits, it kills the rest of the
 * container, and its wait for the output to drain is bounded.
 */
@Tag("containerd")
@Tag("qemu")
@Tag("cri")
@Timeout(value = 600, unit = TimeUnit.SECONDS)
class StopHangIT {

    @RegisterExtension
    static final PrivateCri CRI = new PrivateCri();

    /** Beyond the grace period, what a stop may take: kill, exit, the bounded output drain (2 s), events. */
    static final Duration SLACK = Duration.ofSeconds(10);
    /** What StopPodSandbox may take beyond {@link #SLACK} for each container that still runs. */
    static final Duration PER_CONTAINER = Duration.ofSeconds(5);
    /** How long nginx may take to answer on port 80 after StartContainer (a TCG VM is slow). */
    static final Duration SERVING = Duration.ofSeconds(60);

    private static final NamespaceOption SHARED_PID = PrivateCri.KUBELET_NAMESPACES.toBuilder().setPid(NamespaceMode.POD)
            .build();

    @BeforeAll
    static void images() throws Exception {
        CRI.containerd().importImage(PrivateContainerd.nginxImage());
    }

    @Test
    void nginxWithItsOwnPidNamespaceKilledAtOnce() throws Exception {
        try (Pod pod = CRI.runPod("ngx-own")) {
            String id = runNginx(pod, PrivateCri.KUBELET_NAMESPACES);
            stopWithin(pod, id, 0, 137);
            assertLogged(pod, "nginx", "GET /first");
            stopAndRemovePod(pod);
        }
    }

    @Test
    void nginxSharingThePodsPidNamespaceKilledAtOnce() throws Exception {
        try (Pod pod = CRI.runPod(CRI.podConfig("ngx-shared", StopHangIT::sharedPid), PrivateCri.HANDLER)) {
            String id = runNginx(pod, SHARED_PID);
            stopWithin(pod, id, 0, 137);
            assertLogged(pod, "nginx", "GET /first");
            stopAndRemovePod(pod);
        }
    }

    @Test
    void nginxStoppedWithSigtermInEitherPidNamespace() throws Exception {
        try (Pod pod = CRI.runPod(CRI.podConfig("ngx-term", StopHangIT::sharedPid), PrivateCri.HANDLER)) {
            String own = runNginx(pod, "own", PrivateCri.KUBELET_NAMESPACES, 80);
            String shared = runNginx(pod, "shared", SHARED_PID, 8080);
            // nginx's fast shutdown on SIGTERM: the master stops its workers and exits 0.
            stopWithin(pod, own, 10, 0);
            stopWithin(pod, shared, 10, 0);
            stopAndRemovePod(pod);
        }
    }

    @Test
    void nginxWithAPortForwardInProgress() throws Exception {
        for (NamespaceOption namespaces : List.of(PrivateCri.KUBELET_NAMESPACES, SHARED_PID)) {
            String name = namespaces.getPid() == NamespaceMode.POD ? "ngx-pf-shared" : "ngx-pf-own";
            try (Pod pod = CRI.runPod(CRI.podConfig(name, b -> namespaces == SHARED_PID ? sharedPid(b) : b),
                    PrivateCri.HANDLER)) {
                String id = runNginx(pod, namespaces);
                String url = CRI.cri().runtime().portForward(PortForwardRequest.newBuilder().setPodSandboxId(pod.id())
                        .addPort(80).build()).getUrl();
                try (PortForwardStream stream = PortForwardStream.connect(url, 80, Duration.ofSeconds(30))) {
                    // Half a request: the worker holds the connection open, waiting for the rest.
                    assertTrue(stream.send("GET /held HTTP/1.1\r\nHost: jkit\r\n".getBytes(StandardCharsets.US_ASCII)));
                    stopWithin(pod, id, 0, 137);
                    stopAndRemovePod(pod);
                }
            }
        }
    }

    @Test
    void nginxPodStoppedWithoutStoppingItsContainerFirst() throws Exception {
        try (Pod pod = CRI.runPod(CRI.podConfig("ngx-pod", StopHangIT::sharedPid), PrivateCri.HANDLER)) {
            runNginx(pod, "own", PrivateCri.KUBELET_NAMESPACES, 80);
            runNginx(pod, "shared", SHARED_PID, 8080);
            stopAndRemovePod(pod, 2);
        }
    }

    @Test
    void aBackgroundChildHoldingStdoutDoesNotKeepAContainerAlive() throws Exception {
        try (Pod pod = CRI.runPod(CRI.podConfig("bg-child", StopHangIT::sharedPid), PrivateCri.HANDLER)) {
            // The init exits by itself; its child lives on in the pod's PID namespace with the container's stdout.
            String leaver = pod.run("leaver", b -> pid(b, SHARED_PID), "sh", "-c", "sleep 3600 & echo leaving; exit 3");
            ContainerStatus left = pod.awaitExit(leaver, Duration.ofSeconds(60));
            assertEquals(3, left.getExitCode(), left::toString);
            assertLogged(pod, "leaver", "leaving");
            String ps = pod.execOk(pod.run("observer", b -> pid(b, SHARED_PID), "sleep", "7200"), "ps", "-o", "pid,args");
            assertTrue(!ps.contains("sleep 3600"), () -> "the leaver's background sleep outlived its container (runc"
                    + " kills it):\n" + ps);

            // Killed at once, and stopped with SIGTERM its shell ignores: SIGKILL after the grace period.
            String killed = pod.run("killed", b -> pid(b, SHARED_PID), "sh", "-c", "sleep 3600 & echo up; wait");
            pod.awaitLog("killed", l -> l.endsWith(" stdout F up"), Duration.ofSeconds(60));
            stopWithin(pod, killed, 0, 137);
            String stubborn = pod.run("stubborn", b -> pid(b, SHARED_PID), "sh", "-c",
                    "trap '' TERM; sleep 3600 & echo up; wait");
            pod.awaitLog("stubborn", l -> l.endsWith(" stdout F up"), Duration.ofSeconds(60));
            stopWithin(pod, stubborn, 3, 137);
            stopAndRemovePod(pod);
        }
    }

    @Test
    void anExecWhoseChildKeepsStdoutReportsItsExit() throws Exception {
        try (Pod pod = CRI.runPod("bg-exec")) {
            String id = pod.run("main", "sleep", "3600");
            long start = System.nanoTime();
            var response = pod.execSync(id, Duration.ofSeconds(30), "sh", "-c", "echo before; sleep 3600 & exit 5");
            Duration took = Duration.ofNanos(System.nanoTime() - start);
            assertEquals(5, response.getExitCode(), response::toString);
            assertEquals("before\n", response.getStdout().toStringUtf8());
            assertTrue(took.compareTo(SLACK) < 0, () -> "ExecSync took " + took);
            stopWithin(pod, id, 0, 137);
            stopAndRemovePod(pod);
        }
    }

    private static PodSandboxConfig.Builder sharedPid(PodSandboxConfig.Builder builder) {
        builder.getLinuxBuilder().setSecurityContext(LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(SHARED_PID));
        return builder;
    }

    private static ContainerConfig.Builder pid(ContainerConfig.Builder builder, NamespaceOption namespaces) {
        builder.getLinuxBuilder().setSecurityContext(LinuxContainerSecurityContext.newBuilder().setNamespaceOptions(namespaces));
        return builder;
    }

    private static String runNginx(Pod pod, NamespaceOption namespaces) throws Exception {
        return runNginx(pod, "nginx", namespaces, 80);
    }

    /**
     * Starts Debian's nginx as the image has it (on another port than 80 its default site is edited first, then
     * nginx is exec'd: the pod's containers share one network namespace) and waits until it served GET /first,
     * which its worker logs.
     */
    private static String runNginx(Pod pod, String name, NamespaceOption namespaces, int port) throws Exception {
        ContainerConfig.Builder config = pid(pod.containerConfig(name), namespaces)
                .setImage(ImageSpec.newBuilder().setImage(PrivateContainerd.NGINX_IMAGE));
        if (port != 80) {
            config.clearCommand().addAllCommand(List.of("sh", "-c", "sed -i 's/80 default_server/" + port
                    + " default_server/' /etc/nginx/sites-available/default && exec nginx -g 'daemon off;'"));
        }
        String id = pod.run(config.build());
        long deadline = System.nanoTime() + SERVING.toNanos();
        while (true) {
            var response = pod.execSync(id, Duration.ofSeconds(20), "wget", "-q", "-O", "-",
                    "http://127.0.0.1:" + port + "/first");
            if (response.getExitCode() != 0 && response.getStderr().toStringUtf8().contains("404")) {
                break; // nginx answered: /first does not exist, which is the point (a fixed access-log line)
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("nginx did not answer on port 80 within " + SERVING + ": " + response);
            }
            Thread.sleep(500);
        }
        String ps = pod.execOk(id, "ps", "-o", "pid,args");
        assertTrue(ps.contains("nginx: master process") && ps.contains("nginx: worker process"), ps);
        return id;
    }

    private static void assertLogged(Pod pod, String name, String text) throws Exception {
        String log = Files.readString(pod.logFile(name));
        assertTrue(log.contains(text), () -> "the log of " + name + " lacks '" + text + "':\n" + log);
    }

    /** StopContainer with {@code grace}, which must answer within grace + {@link #SLACK}; the container is EXITED. */
    private static void stopWithin(Pod pod, String id, long grace, int exitCode) {
        Duration limit = Duration.ofSeconds(grace).plus(SLACK);
        timed("StopContainer(" + grace + " s) of " + id, limit, () -> CRI.cri().runtime(limit).stopContainer(
                StopContainerRequest.newBuilder().setContainerId(id).setTimeout(grace).build()));
        ContainerStatus status = pod.containerStatus(id);
        assertEquals(ContainerState.CONTAINER_EXITED, status.getState(), status::toString);
        assertEquals(exitCode, status.getExitCode(), status::toString);
    }

    private static void stopAndRemovePod(Pod pod) throws Exception {
        stopAndRemovePod(pod, 0);
    }

    /**
     * StopPodSandbox within {@link #SLACK} plus {@link #PER_CONTAINER} for each of {@code running} containers still
     * running (containerd 1.6 stops them one after another, each killed at once, before the pause container), then
     * RemovePodSandbox within {@link #SLACK}.
     */
    private static void stopAndRemovePod(Pod pod, int running) throws Exception {
        Duration stopLimit = SLACK.plus(PER_CONTAINER.multipliedBy(running));
        timed("StopPodSandbox of " + pod.id(), stopLimit, () -> CRI.cri().runtime(stopLimit).stopPodSandbox(
                StopPodSandboxRequest.newBuilder().setPodSandboxId(pod.id()).build()));
        assertEquals(List.of(), CRI.containerd().processes("qemu-system-x86_64").stream()
                .filter(p -> PrivateContainerd.cmdline(p).contains(pod.id())).toList(), "QEMU of the stopped pod");
        timed("RemovePodSandbox of " + pod.id(), SLACK, () -> CRI.cri().runtime(SLACK).removePodSandbox(
                RemovePodSandboxRequest.newBuilder().setPodSandboxId(pod.id()).build()));
        pod.remove(); // a no-op for CRI now; removes the pod's cgroup, the kubelet's part
        var left = CRI.cri().runtime().listPodSandbox(ListPodSandboxRequest.newBuilder()
                .setFilter(PodSandboxFilter.newBuilder().setId(pod.id())).build()).getItemsList();
        assertEquals(List.of(), left, "pods after RemovePodSandbox");
    }

    private static void timed(String what, Duration limit, Runnable call) {
        long start = System.nanoTime();
        try {
            call.run();
        } catch (io.grpc.StatusRuntimeException e) {
            throw new AssertionError(what + " failed after " + Duration.ofNanos(System.nanoTime() - start) + " (limit "
                    + limit + "): " + e.getStatus(), e);
        }
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        System.out.println("StopHangIT: " + what + " took " + took.toMillis() + " ms");
        assertTrue(took.compareTo(limit) <= 0, () -> what + " took " + took + ", more than " + limit);
    }
}
