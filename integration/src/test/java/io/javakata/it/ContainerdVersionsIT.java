package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import com.fasterxml.jackson.databind.ObjectMapper;

import io.javakata.it.cri.v1.ContainerState;
import io.javakata.it.cri.v1.ContainerStats;
import io.javakata.it.cri.v1.ContainerStatsFilter;
import io.javakata.it.cri.v1.ContainerStatsRequest;
import io.javakata.it.cri.v1.ListContainerStatsRequest;
import io.javakata.it.cri.v1.PodSandboxStatsRequest;
import io.javakata.it.cri.v1.VersionRequest;

/**
 * Issue 12 item 4: the core pod path through CRI on each containerd version (docs/containerd-versions.md): one pod
 * with two containers, their logs, exec, stats, stop and remove, and nothing left behind. The versions besides the
 * system's are Debian's packages of other suites, unpacked by scripts/containerd-versions.sh; the system's own (Debian
 * 12's 1.6) runs every other IT, so it is here only on request ({@code -Djavakata.it.containerd=system,trixie,unstable}).
 */
@Tag("containerd")
@Tag("qemu")
@Tag("cri")
class ContainerdVersionsIT {

    /** The suites whose containerd runs here; "system" is the machine's own. */
    private static final List<String> SUITES = Arrays.stream(
            System.getProperty("javakata.it.containerd", "trixie,unstable").split(",")).map(String::strip)
            .filter(s -> !s.isEmpty()).toList();
    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final long MIB = 1 << 20;
    /** A container script that runs {@code %s}, then waits until SIGTERM and exits 0. */
    private static final String UNTIL_TERM = "trap 'exit 0' TERM; %s; while true; do sleep 1; done";

    /** One containerd to test: the suite it came from, the version it reports, the directory of its binaries. */
    record Version(String suite, String version, Optional<Path> binaries) {
        @Override
        public String toString() {
            return "containerd " + version + " (" + suite + ")";
        }

        int major() {
            return Integer.parseInt(version.replaceFirst("^v", "").split("\\.")[0]);
        }
    }

    static List<Version> versions() throws Exception {
        var versions = new ArrayList<Version>();
        var fetched = SUITES.stream().filter(s -> !s.equals("system")).toList();
        var lines = new ArrayList<String>();
        if (!fetched.isEmpty()) {
            var command = new ArrayList<String>(List.of(PrivateContainerd.repo().resolve("scripts/containerd-versions.sh")
                    .toString()));
            command.addAll(fetched);
            // The first run downloads two packages; later ones find them unpacked.
            Ctr.Result result = Ctr.execute(command, null, Duration.ofMinutes(5)).assertOk();
            lines.addAll(result.stdout().lines().toList());
        }
        for (String suite : SUITES) {
            if (suite.equals("system")) {
                String out = Ctr.execute(List.of("containerd", "--version"), null, Duration.ofSeconds(10)).assertOk().stdout();
                versions.add(new Version("system", out.strip().split("\\s+")[2], Optional.empty()));
                continue;
            }
            String line = lines.stream().filter(l -> l.startsWith(suite + " ")).findFirst()
                    .orElseThrow(() -> new AssertionError("containerd-versions.sh printed nothing for " + suite + ": " + lines));
            String[] fields = line.split(" ");
            versions.add(new Version(suite, fields[1], Optional.of(Path.of(fields[2]))));
        }
        return versions;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("versions")
    @Timeout(value = 420, unit = TimeUnit.SECONDS)
    void podWithTwoContainersExecLogsStatsStopAndRemove(Version version) throws Exception {
        var cri = new PrivateCri(version.binaries());
        try {
            cri.start(null);
            String reported = cri.cri().runtime().version(VersionRequest.newBuilder().setVersion("v1").build())
                    .getRuntimeVersion();
            assertEquals(version.version().replaceFirst("^v", ""), reported.replaceFirst("^v", ""),
                    "CRI answers from the containerd under test");
            corePath(cri, version);
        } finally {
            boolean interrupted = clearInterrupt();
            cri.stop(null); // fails the test if anything leaked
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * Clears the interrupt a @Timeout leaves on this thread, so that the teardown after it (CRI calls, the scripts
     * stopping containerd) runs instead of failing at once; true if there was one.
     */
    private static boolean clearInterrupt() {
        return Thread.interrupted();
    }

    private static void corePath(PrivateCri cri, Version version) throws Exception {
        Pod pod = cri.runPod("ctrd-" + version.suite());
        try {
            // Both end on SIGTERM within a second (StopContainer's signal, from each version's CRI).
            String first = pod.run("first", "sh", "-c", UNTIL_TERM.formatted("echo first-up"));
            String second = pod.run("second", "sh", "-c", UNTIL_TERM.formatted("echo second-up; echo second-err >&2"));
            pod.awaitLog("first", l -> l.endsWith(" stdout F first-up"), WAIT);
            pod.awaitLog("second", l -> l.endsWith(" stdout F second-up"), WAIT);
            pod.awaitLog("second", l -> l.endsWith(" stderr F second-err"), WAIT);

            // Both containers run in one VM: the same guest kernel, not the host's.
            String hostBoot = Files.readString(Path.of("/proc/sys/kernel/random/boot_id")).strip();
            String boot = pod.execOk(first, "cat", "/proc/sys/kernel/random/boot_id").strip();
            assertEquals(boot, pod.execOk(second, "cat", "/proc/sys/kernel/random/boot_id").strip());
            assertNotEquals(hostBoot, boot, "the containers run on the host's kernel");
            var failed = pod.execSync(second, Duration.ofSeconds(60), "sh", "-c", "echo out; echo err >&2; exit 7");
            assertEquals(7, failed.getExitCode());
            assertEquals("out\n", failed.getStdout().toStringUtf8());
            assertEquals("err\n", failed.getStderr().toStringUtf8());
            assertEquals(1, cri.containerd().processes("qemu-system-x86_64").size(), "one QEMU for the pod");

            assertStats(cri, pod, first, second);
            if (version.major() >= 2) {
                assertConnectedOverTaskV2(cri, pod.id());
                // CRI 2.x adds enable_unprivileged_ports' sysctl to every spec; runc applies it in the guest's pod
                // network namespace (containerd v2.1.9 docs/cri/config.md, enable_unprivileged_ports).
                assertEquals("0", pod.execOk(second, "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start").strip());
            }

            long stopStart = System.nanoTime();
            pod.stopContainer(first, 2);
            var stopped = pod.containerStatus(first);
            assertEquals(ContainerState.CONTAINER_EXITED, stopped.getState());
            assertEquals(0, stopped.getExitCode(), "the container's SIGTERM trap ended it");
            assertTrue(System.nanoTime() - stopStart < TimeUnit.SECONDS.toNanos(30), "StopContainer took over 30 s");
            assertEquals(ContainerState.CONTAINER_RUNNING, pod.containerStatus(second).getState(),
                    "stopping one container leaves the other running");
            pod.removeContainer(first);
            pod.stopContainer(second, 2);
            pod.stop();
            pod.removeContainer(second);
            pod.remove();
        } finally {
            boolean interrupted = clearInterrupt();
            pod.close(); // after a failure: the kubelet's teardown of what is left
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
        List<String> leaks = cri.containerd().leaksAfter(Duration.ofSeconds(20));
        assertEquals(List.of(), leaks, "left behind after RemovePodSandbox on " + version);
    }

    private static void assertStats(PrivateCri cri, Pod pod, String first, String second) {
        ContainerStats stats = cri.cri().runtime().containerStats(ContainerStatsRequest.newBuilder().setContainerId(first)
                .build()).getStats();
        assertEquals(first, stats.getAttributes().getId());
        long workingSet = stats.getMemory().getWorkingSetBytes().getValue();
        assertTrue(workingSet > 0 && workingSet < 512 * MIB, () -> "working set of `sleep`: " + workingSet);
        assertTrue(stats.getCpu().getUsageCoreNanoSeconds().getValue() > 0, stats::toString);
        var listed = cri.cri().runtime().listContainerStats(ListContainerStatsRequest.newBuilder()
                .setFilter(ContainerStatsFilter.newBuilder().setPodSandboxId(pod.id())).build()).getStatsList();
        assertEquals(Set.of(first, second), listed.stream().map(s -> s.getAttributes().getId()).collect(Collectors.toSet()));
        var podStats = cri.cri().runtime().podSandboxStats(PodSandboxStatsRequest.newBuilder().setPodSandboxId(pod.id())
                .build()).getStats();
        assertTrue(podStats.getLinux().getMemory().getWorkingSetBytes().getValue() > 30 * MIB,
                () -> "the pod's working set holds the VM: " + podStats);
    }

    /**
     * containerd 2.x records how it reached the pod's shim in the bundle's bootstrap.json: the plain address javakata
     * prints is its version 2 (ttrpc, containerd.task.v2.Task; containerd v2.1.9
     * core/runtime/v2/shim.go parseStartResponse and shim_manager.go restoreBootstrapParams).
     */
    private static void assertConnectedOverTaskV2(PrivateCri cri, String podId) throws Exception {
        Path bootstrap = cri.containerd().bundle(podId).resolve("bootstrap.json");
        var params = new ObjectMapper().readTree(bootstrap.toFile());
        assertEquals(2, params.path("version").asInt(), params::toString);
        assertEquals("ttrpc", params.path("protocol").asText(), params::toString);
        assertTrue(params.path("address").asText().startsWith("unix://"), params::toString);
    }
}
