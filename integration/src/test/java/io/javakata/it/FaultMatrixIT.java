package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.grpc.StatusRuntimeException;
import io.javakata.it.cri.v1.ContainerConfig;
import io.javakata.it.cri.v1.ContainerState;
import io.javakata.it.cri.v1.LinuxContainerSecurityContext;
import io.javakata.it.cri.v1.LinuxSandboxSecurityContext;
import io.javakata.it.cri.v1.ListPodSandboxRequest;
import io.javakata.it.cri.v1.PodSandbox;
import io.javakata.it.cri.v1.PodSandboxConfig;
import io.javakata.it.cri.v1.RemovePodSandboxRequest;
import io.javakata.it.cri.v1.RunPodSandboxRequest;
import io.javakata.it.cri.v1.StopPodSandboxRequest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Issue 8 item 4, the fault matrix: each of the pod's processes dies at each point of its life, through CRI as the
 * kubelet drives it. In every cell the outcome is reported (the container EXITED with an exit code, or RunPodSandbox
 * failing with an error), no call waits past its deadline, and after CRI removed the pod no process, mount, sandbox
 * state, network namespace, CNI interface or host cgroup of it remains. docs/reliability.md has the table and the
 * figures.
 *
 * <p>The victims: the shim, QEMU and virtiofsd get SIGKILL from the host. The agent is the guest's PID 1, which no
 * signal sent from inside its own PID namespace can kill (the kernel protects an init from SIGKILL there); it dies
 * the way a PID 1 ends, by exiting: a privileged container in the guest's PID namespace sends it SIGTERM, which the
 * agent's JVM answers by exiting, and the guest kernel panics and powers off. While the VM boots no container exists
 * yet, so in that cell the agent is made unable to answer instead: once the guest's init has started it, QEMU is
 * frozen (SIGSTOP) before the agent's first answer, which is what a hung agent looks like to the shim.
 *
 * <p>The pods that must boot (the cells of a booting VM) and the vsock backend's cell run on the hybrid vsock
 * handler, which boots every VM; the others on the suite's handler, whose pods restore a VM template where the host
 * allows it (serial channel), as the shim's configuration does by default.
 */
@Tag("containerd")
@Tag("qemu")
@Tag("cri")
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class FaultMatrixIT {

    @RegisterExtension
    static final PrivateCri CRI = new PrivateCri();

    /** The longest any cell may take to report its outcome after the kill: liveness (20 s) plus events and CRI. */
    static final Duration REPORTED = Duration.ofSeconds(40);
    /** How long the test waits for a boot's steps (the console's lines, the journal): the boot timeout and more. */
    static final Duration BOOT_FAILS = Duration.ofSeconds(150);
    static final Duration LEAK_WAIT = Duration.ofSeconds(20);
    /**
     * The grace period of the StopContainer the "stopping" cells interrupt: long enough that the container is
     * still waiting for it when the fault comes, however slow the execs that watch for its SIGTERM are (TCG).
     */
    static final long STOP_GRACE_SECONDS = 90;
    /** What the guest's init writes to the console as it execs the agent (guest/image/init). */
    static final String AGENT_STARTING = "javakata-init: exec agent";

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> TABLE = new ArrayList<>();

    enum Victim { SHIM, QEMU, VIRTIOFSD, AGENT }

    enum Phase { BOOT, STARTING, RUNNING, EXEC, STOPPING }

    @AfterAll
    static void printTable() {
        System.out.println("fault matrix (victim, phase: outcome, seconds from the kill to the outcome):");
        TABLE.forEach(row -> System.out.println("  " + row));
    }

    @ParameterizedTest(name = "{0} dies while the VM boots")
    @EnumSource(Victim.class)
    void whileTheVmBoots(Victim victim) throws Exception {
        Set<String> before = sandboxEntries();
        PodSandboxConfig config = podConfig("boot-" + victim.name().toLowerCase());
        Files.createDirectories(Path.of(config.getLogDirectory()));
        CompletableFuture<String> run = CompletableFuture.supplyAsync(() -> CRI.cri().runtime(BOOT_FAILS.plusSeconds(30))
                .runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(config)
                        .setRuntimeHandler(PrivateCri.HVSOCK_HANDLER).build()).getPodSandboxId());
        Path sandbox = awaitNewSandbox(before, run);
        JsonNode journal = awaitJournal(sandbox, victim == Victim.SHIM ? "shim" : "vmm", run);
        if (victim == Victim.AGENT) {
            awaitConsole(sandbox, AGENT_STARTING, run); // the guest is up and its init has started the agent
        }
        long killedAt = System.nanoTime();
        String outcome;
        switch (victim) {
            case SHIM -> kill(journal.path("shimPid").asLong(), "KILL");
            case QEMU -> kill(processOf(journal, "vmm"), "KILL");
            case VIRTIOFSD -> kill(processOf(journal, "virtiofsd"), "KILL");
            case AGENT -> kill(processOf(journal, "vmm"), "STOP");
        }
        // A VMM frozen before the agent's first answer ends the boot once it has neither run nor waited to run for
        // 15 s (BootWatch), not at the boot timeout: within REPORTED too.
        try {
            String podId = run.get(REPORTED.toSeconds(), TimeUnit.SECONDS);
            // The kill came after the agent answered: the pod runs, and must now die as it would running.
            outcome = "RunPodSandbox succeeded (the fault came after boot); pod " + podId;
            CRI.cri().runtime(REPORTED).stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(podId).build());
            CRI.cri().runtime(REPORTED).removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(podId).build());
        } catch (java.util.concurrent.ExecutionException e) {
            assertTrue(e.getCause() instanceof StatusRuntimeException, "RunPodSandbox failed with " + e.getCause());
            outcome = "RunPodSandbox failed: " + firstLine(e.getCause().getMessage());
        } finally {
            if (victim == Victim.AGENT) {
                continueIfAlive(processOf(journal, "vmm"));
            }
        }
        record(victim, Phase.BOOT, outcome, killedAt);
        removeAnyPodOf(config);
        assertNothingLeft(sandbox, journal);
    }

    /**
     * The VMM dies once the guest's init has started the agent, before the agent answers (what a guest kernel panic
     * does too: QEMU runs with -no-reboot). RunPodSandbox fails soon, naming the VMM's exit, instead of waiting out the
     * boot timeout for an agent that can no longer answer (with hybrid vsock, the vsock backend outlives QEMU and
     * keeps taking CONNECTs that nobody answers).
     */
    @Test
    void theVmmDiesWhileTheAgentStarts() throws Exception {
        Set<String> before = sandboxEntries();
        PodSandboxConfig config = podConfig("starting-qemu");
        Files.createDirectories(Path.of(config.getLogDirectory()));
        CompletableFuture<String> run = CompletableFuture.supplyAsync(() -> CRI.cri().runtime(BOOT_FAILS.plusSeconds(30))
                .runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(config)
                        .setRuntimeHandler(PrivateCri.HVSOCK_HANDLER).build()).getPodSandboxId());
        Path sandbox = awaitNewSandbox(before, run);
        JsonNode journal = awaitJournal(sandbox, "vmm", run);
        awaitConsole(sandbox, AGENT_STARTING, run);
        long killedAt = System.nanoTime();
        kill(processOf(journal, "vmm"), "KILL");
        String outcome;
        try {
            String podId = run.get(REPORTED.toSeconds(), TimeUnit.SECONDS);
            throw new AssertionError("RunPodSandbox succeeded although its VMM was killed before the agent answered: "
                    + podId);
        } catch (java.util.concurrent.ExecutionException e) {
            assertTrue(e.getCause() instanceof StatusRuntimeException, "RunPodSandbox failed with " + e.getCause());
            String message = e.getCause().getMessage();
            assertTrue(message.contains("its VMM (pid " + processOf(journal, "vmm") + ") exited"),
                    "the error names the VMM's exit: " + message);
            outcome = "RunPodSandbox failed: " + firstLine(message);
        }
        record(Victim.QEMU, Phase.STARTING, outcome, killedAt);
        removeAnyPodOf(config);
        assertNothingLeft(sandbox, journal);
    }

    @ParameterizedTest(name = "{0} dies while a container runs")
    @EnumSource(Victim.class)
    void whileAContainerRuns(Victim victim) throws Exception {
        try (Pod pod = CRI.runPod(podConfig("run-" + victim.name().toLowerCase()), PrivateCri.HANDLER)) {
            String container = pod.run(killer(pod, "app", "sleep", "3600"));
            Path sandbox = CRI.containerd().sandboxDir(pod.id());
            JsonNode journal = readJournal(sandbox);
            long killedAt = System.nanoTime();
            kill(victim, journal, pod, container);
            int code = pod.awaitExit(container, REPORTED).getExitCode();
            record(victim, Phase.RUNNING, "container EXITED with " + code, killedAt);
            stopAndRemove(pod);
            assertNothingLeft(sandbox, journal);
        }
    }

    @ParameterizedTest(name = "{0} dies while an exec runs")
    @EnumSource(Victim.class)
    void whileAnExecRuns(Victim victim) throws Exception {
        try (Pod pod = CRI.runPod(podConfig("exec-" + victim.name().toLowerCase()), PrivateCri.HANDLER)) {
            String container = pod.run(killer(pod, "app", "sleep", "3600"));
            Path sandbox = CRI.containerd().sandboxDir(pod.id());
            JsonNode journal = readJournal(sandbox);
            CompletableFuture<String> exec = CompletableFuture.supplyAsync(() -> {
                try {
                    return "exit code " + pod.execSync(container, Duration.ofSeconds(120), "sleep", "601").getExitCode();
                } catch (StatusRuntimeException e) {
                    return "error " + firstLine(e.getMessage());
                }
            });
            awaitInGuest(pod, container, "sleep 601");
            long killedAt = System.nanoTime();
            kill(victim, journal, pod, container);
            String execOutcome = exec.get(REPORTED.toSeconds(), TimeUnit.SECONDS);
            int code = pod.awaitExit(container, REPORTED).getExitCode();
            record(victim, Phase.EXEC, "ExecSync " + execOutcome + ", container EXITED with " + code, killedAt);
            stopAndRemove(pod);
            assertNothingLeft(sandbox, journal);
        }
    }

    @ParameterizedTest(name = "{0} dies while the pod stops")
    @EnumSource(Victim.class)
    void whileThePodStops(Victim victim) throws Exception {
        try (Pod pod = CRI.runPod(podConfig("stop-" + victim.name().toLowerCase()), PrivateCri.HANDLER)) {
            // A container that ignores SIGTERM: StopPodSandbox spends its grace period on it.
            String container = pod.run(killer(pod, "app", "sh", "-c", "trap '' TERM; while true; do sleep 1; done"));
            Path sandbox = CRI.containerd().sandboxDir(pod.id());
            JsonNode journal = readJournal(sandbox);
            CompletableFuture<Void> stop = CompletableFuture.runAsync(() -> pod.stopContainer(container, STOP_GRACE_SECONDS));
            awaitStopping(pod, container);
            long killedAt = System.nanoTime();
            kill(victim, journal, pod, container);
            String outcome;
            try {
                stop.get(REPORTED.toSeconds(), TimeUnit.SECONDS);
                outcome = "StopContainer returned";
            } catch (java.util.concurrent.ExecutionException e) {
                outcome = "StopContainer failed: " + firstLine(e.getCause().getMessage());
            }
            int code = pod.awaitExit(container, REPORTED).getExitCode();
            record(victim, Phase.STOPPING, outcome + ", container EXITED with " + code, killedAt);
            stopAndRemove(pod);
            assertNothingLeft(sandbox, journal);
        }
    }

    /**
     * The hybrid vsock backend (vhost-device-vsock; a pod of the hybrid vsock handler) SIGKILLed while a
     * container runs: the agent connection went with it, so the pod is dead at once and its container EXITED.
     */
    @org.junit.jupiter.api.Test
    void theVsockBackendDiesWhileAContainerRuns() throws Exception {
        try (Pod pod = CRI.runPod(podConfig("run-vsock-backend"), PrivateCri.HVSOCK_HANDLER)) {
            String container = pod.run(pod.containerConfig("app", "sleep", "3600").build());
            Path sandbox = CRI.containerd().sandboxDir(pod.id());
            JsonNode journal = readJournal(sandbox);
            long backend = processOf(journal, "vhost-device-vsock");
            assertTrue(backend > 0, "the journal names the backend: " + journal);
            long killedAt = System.nanoTime();
            kill(backend, "KILL");
            int code = pod.awaitExit(container, REPORTED).getExitCode();
            String row = "%-9s %-8s %5.1f s  %s".formatted("VSOCK-BE", Phase.RUNNING,
                    (System.nanoTime() - killedAt) / 1e9, "container EXITED with " + code);
            TABLE.add(row);
            System.out.println("fault matrix: " + row);
            assertEquals(255, code, "a lost container");
            awaitInLog("vhost-device-vsock pid " + backend + " exited");
            stopAndRemove(pod);
            assertNothingLeft(sandbox, journal);
        }
    }

    /**
     * Issue 8 item 3: a guest that stops answering (QEMU frozen with SIGSTOP, which stops its vCPUs as QMP
     * {@code stop} would; the shim holds QEMU's one QMP connection) is declared dead within 10 s: its container
     * shows EXITED, and the pod stops and goes without leaving anything.
     */
    @org.junit.jupiter.api.Test
    void aFrozenGuestIsDeclaredDeadWithinTwentyFiveSeconds() throws Exception {
        try (Pod pod = CRI.runPod(podConfig("frozen"), PrivateCri.HANDLER)) {
            String container = pod.run(pod.containerConfig("app", "sleep", "3600").build());
            Path sandbox = CRI.containerd().sandboxDir(pod.id());
            JsonNode journal = readJournal(sandbox);
            long qemu = processOf(journal, "vmm");
            long frozenAt = System.nanoTime();
            kill(qemu, "STOP");
            try {
                int code = pod.awaitExit(container, REPORTED).getExitCode();
                Duration noticed = Duration.ofNanos(System.nanoTime() - frozenAt);
                record(Victim.AGENT, Phase.RUNNING, "guest frozen: container EXITED with " + code, frozenAt);
                assertEquals(255, code, "a lost container");
                // The watchdog's 15 s of silence plus one check's 5 s deadline; CRI's status poll adds up to a second.
                assertTrue(noticed.compareTo(Duration.ofSeconds(25)) < 0, "noticed after " + noticed);
                awaitInLog("is dead: its agent has answered no Check");
            } finally {
                continueIfAlive(qemu);
            }
            stopAndRemove(pod);
            assertNothingLeft(sandbox, journal);
        }
    }

    /** Waits until containerd's log (where the shim's log lines go) has {@code text}. */
    private static void awaitInLog(String text) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + REPORTED.toNanos();
        while (!Files.readString(CRI.containerd().log()).contains(text)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no \"" + text + "\" in " + CRI.containerd().log());
            }
            TimeUnit.MILLISECONDS.sleep(200);
        }
    }

    // --- the faults ---------------------------------------------------------------------------------------------

    /** Kills {@code victim} of a running pod; the agent through {@code container}, privileged. */
    private static void kill(Victim victim, JsonNode journal, Pod pod, String container) throws Exception {
        switch (victim) {
            case SHIM -> kill(journal.path("shimPid").asLong(), "KILL");
            case QEMU -> kill(processOf(journal, "vmm"), "KILL");
            case VIRTIOFSD -> kill(processOf(journal, "virtiofsd"), "KILL");
            case AGENT -> {
                try {
                    // No container can see or signal the agent (issue 9): the privileged one crashes the guest kernel,
                    // which ends the agent as its own death would (PID 1 gone: a panic, and panic=-1 ends the VM).
                    // The exec dies with the VM before it answers.
                    pod.execSync(container, Duration.ofSeconds(30), "sh", "-c", "echo c > /proc/sysrq-trigger");
                } catch (StatusRuntimeException e) {
                    // the agent went while answering
                }
            }
        }
    }

    private static void kill(long pid, String signal) throws IOException, InterruptedException {
        assertTrue(pid > 0, "no pid to kill");
        Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(pid)).redirectErrorStream(true).start();
        assertTrue(kill.waitFor(10, TimeUnit.SECONDS) && kill.exitValue() == 0,
                "kill -" + signal + " " + pid + ": " + new String(kill.getInputStream().readAllBytes()));
    }

    private static void continueIfAlive(long pid) {
        ProcessHandle.of(pid).ifPresent(p -> {
            try {
                new ProcessBuilder("kill", "-CONT", Long.toString(pid)).start().waitFor(10, TimeUnit.SECONDS);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
    }

    // --- pods ---------------------------------------------------------------------------------------------------

    private static PodSandboxConfig podConfig(String name) {
        return CRI.podConfig(name, b -> b.setLinux(b.getLinux().toBuilder().setSecurityContext(
                LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(PrivateCri.KUBELET_NAMESPACES)
                        .setPrivileged(true))));
    }

    /** A privileged container (so it can crash the guest's kernel, which ends the agent). */
    private static ContainerConfig killer(Pod pod, String name, String... command) {
        return pod.containerConfig(name, command).setLinux(io.javakata.it.cri.v1.LinuxContainerConfig.newBuilder()
                .setSecurityContext(LinuxContainerSecurityContext.newBuilder().setPrivileged(true)
                        .setNamespaceOptions(PrivateCri.KUBELET_NAMESPACES))).build();
    }

    private static void stopAndRemove(Pod pod) {
        pod.stop();
        for (var container : CRI.cri().runtime().listContainers(io.javakata.it.cri.v1.ListContainersRequest.newBuilder()
                .setFilter(io.javakata.it.cri.v1.ContainerFilter.newBuilder().setPodSandboxId(pod.id())).build())
                .getContainersList()) {
            pod.removeContainer(container.getId());
        }
        pod.remove();
    }

    /** A pod that RunPodSandbox made before it failed (containerd normally removes it itself). */
    private static void removeAnyPodOf(PodSandboxConfig config) {
        for (PodSandbox pod : CRI.cri().runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
            if (pod.getMetadata().getUid().equals(config.getMetadata().getUid())) {
                CRI.cri().runtime(REPORTED).stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(pod.getId()).build());
                CRI.cri().runtime(REPORTED).removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(pod.getId()).build());
            }
        }
    }

    /** Waits until the guest runs a process whose command line is {@code command} (the exec has started). */
    private static void awaitInGuest(Pod pod, String container, String command) throws InterruptedException {
        awaitExec(pod, container, "ps -o args | grep -qx '" + command + "'", "'" + command + "' running");
    }

    /**
     * Waits until containerd has begun the stop: CRI logs "Stop container "ID" with signal terminated" as it sends
     * SIGTERM, which the container ignores, so the stop then waits out its grace period.
     */
    private static void awaitStopping(Pod pod, String container) throws InterruptedException, IOException {
        long deadline = System.nanoTime() + REPORTED.toNanos();
        while (Files.readAllLines(CRI.containerd().log()).stream()
                .noneMatch(line -> line.contains("Stop container") && line.contains(container) && line.contains("with signal"))) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("containerd did not begin to stop " + container + " within " + REPORTED);
            }
            TimeUnit.MILLISECONDS.sleep(100);
        }
        assertEquals(ContainerState.CONTAINER_RUNNING, pod.containerStatus(container).getState(),
                "the container ignores SIGTERM");
    }

    private static void awaitExec(Pod pod, String container, String script, String what) throws InterruptedException {
        long deadline = System.nanoTime() + REPORTED.toNanos();
        while (pod.execSync(container, Duration.ofSeconds(30), "sh", "-c", script).getExitCode() != 0) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no " + what + " in " + container + " within " + REPORTED);
            }
            TimeUnit.MILLISECONDS.sleep(200);
        }
    }

    // --- journal and leaks --------------------------------------------------------------------------------------

    private static Set<String> sandboxEntries() throws IOException {
        if (!Files.isDirectory(PrivateContainerd.SANDBOXES)) {
            return Set.of();
        }
        try (Stream<Path> list = Files.list(PrivateContainerd.SANDBOXES)) {
            return list.map(p -> p.getFileName().toString()).collect(TreeSet::new, Set::add, Set::addAll);
        }
    }

    private static Path awaitNewSandbox(Set<String> before, CompletableFuture<?> run) throws Exception {
        long deadline = System.nanoTime() + BOOT_FAILS.toNanos();
        while (System.nanoTime() < deadline) {
            Optional<String> entry = sandboxEntries().stream().filter(e -> !before.contains(e)).findFirst();
            if (entry.isPresent()) {
                return PrivateContainerd.SANDBOXES.resolve(entry.get());
            }
            if (run.isDone()) {
                throw new AssertionError("RunPodSandbox ended before its sandbox appeared: " + run.handle((r, e) -> r + " " + e).get());
            }
            TimeUnit.MILLISECONDS.sleep(20);
        }
        throw new AssertionError("no new sandbox under " + PrivateContainerd.SANDBOXES);
    }

    /** The journal once it names {@code role} ("shim": at once; "vmm": once QEMU was launched, with virtiofsd before it). */
    private static JsonNode awaitJournal(Path sandbox, String role, CompletableFuture<?> run) throws Exception {
        long deadline = System.nanoTime() + BOOT_FAILS.toNanos();
        while (System.nanoTime() < deadline) {
            JsonNode journal = readJournalIfThere(sandbox);
            if (journal != null && (role.equals("shim") ? journal.path("shimPid").asLong() > 0 : processOf(journal, role) > 0)) {
                return journal;
            }
            if (run.isDone()) {
                throw new AssertionError("RunPodSandbox ended before the journal named " + role + ": "
                        + run.handle((r, e) -> r + " " + e).get());
            }
            TimeUnit.MILLISECONDS.sleep(5);
        }
        throw new AssertionError("the journal of " + sandbox + " never named " + role);
    }

    private static void awaitConsole(Path sandbox, String text, CompletableFuture<?> run) throws Exception {
        long deadline = System.nanoTime() + BOOT_FAILS.toNanos();
        Path console = sandbox.resolve("console.log");
        while (System.nanoTime() < deadline) {
            if (Files.exists(console) && Files.readString(console, java.nio.charset.StandardCharsets.ISO_8859_1)
                    .contains(text)) {
                return;
            }
            if (run.isDone()) {
                throw new AssertionError("RunPodSandbox ended before the console said " + text + ": "
                        + run.handle((r, e) -> r + " " + e).get());
            }
            TimeUnit.MILLISECONDS.sleep(20);
        }
        throw new AssertionError("the console of " + sandbox + " never said " + text);
    }

    private static JsonNode readJournal(Path sandbox) throws IOException {
        JsonNode journal = readJournalIfThere(sandbox);
        assertTrue(journal != null, "no journal in " + sandbox);
        return journal;
    }

    private static JsonNode readJournalIfThere(Path sandbox) {
        try {
            return JSON.readTree(sandbox.resolve("sandbox.json").toFile());
        } catch (IOException e) {
            return null; // not written yet (it is replaced atomically, so never half)
        }
    }

    private static long processOf(JsonNode journal, String role) {
        for (JsonNode resource : journal.path("resources")) {
            if (resource.path("kind").asText().equals("vm")) {
                for (JsonNode process : resource.path("processes")) {
                    if (process.path("role").asText().equals(role)) {
                        return process.path("pid").asLong();
                    }
                }
            }
        }
        return 0;
    }

    private static List<String> cgroupsOf(JsonNode journal) {
        List<String> paths = new ArrayList<>();
        for (JsonNode resource : journal.path("resources")) {
            if (resource.path("kind").asText().equals("cgroup")) {
                paths.add(resource.path("path").asText());
            }
        }
        return paths;
    }

    /** No process, mount or state of the sandbox, nothing of the containerd's pods, and not its host cgroup. */
    private static void assertNothingLeft(Path sandbox, JsonNode journal) throws Exception {
        List<String> leaks = CRI.containerd().leaksAfter(LEAK_WAIT);
        assertEquals(List.of(), leaks, "left behind");
        assertFalse(Files.exists(sandbox), sandbox + " left behind");
        for (String cgroup : cgroupsOf(journal)) {
            try (Stream<Path> hierarchies = Files.list(Path.of("/sys/fs/cgroup"))) {
                for (Path hierarchy : hierarchies.toList()) {
                    assertFalse(Files.isDirectory(hierarchy.resolve(cgroup.substring(1))), "host cgroup " + cgroup
                            + " left in " + hierarchy);
                }
            }
        }
        for (String role : List.of("vmm", "virtiofsd", "vhost-device-vsock")) {
            long pid = processOf(journal, role);
            if (pid > 0) {
                assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)
                        && cmdline(pid).contains(sandbox.toString()), role + " pid " + pid + " still runs");
            }
        }
    }

    private static String cmdline(long pid) {
        try {
            return Files.readString(Path.of("/proc", Long.toString(pid), "cmdline")).replace('\0', ' ');
        } catch (IOException e) {
            return "";
        }
    }

    private static void record(Victim victim, Phase phase, String outcome, long killedAt) {
        String row = "%-9s %-8s %5.1f s  %s".formatted(victim, phase, (System.nanoTime() - killedAt) / 1e9, outcome);
        TABLE.add(row);
        System.out.println("fault matrix: " + row);
    }

    private static String firstLine(String text) {
        return text == null ? "" : text.lines().findFirst().orElse("");
    }
}
