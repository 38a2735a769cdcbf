package io.javakata.it;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.function.UnaryOperator;

import io.grpc.StatusRuntimeException;
import io.javakata.it.cri.CriClient;
import io.javakata.it.cri.v1.ContainerConfig;
import io.javakata.it.cri.v1.ContainerMetadata;
import io.javakata.it.cri.v1.ContainerState;
import io.javakata.it.cri.v1.ContainerStatus;
import io.javakata.it.cri.v1.ContainerStatusRequest;
import io.javakata.it.cri.v1.CreateContainerRequest;
import io.javakata.it.cri.v1.ExecSyncRequest;
import io.javakata.it.cri.v1.ExecSyncResponse;
import io.javakata.it.cri.v1.ImageSpec;
import io.javakata.it.cri.v1.LinuxContainerConfig;
import io.javakata.it.cri.v1.LinuxContainerSecurityContext;
import io.javakata.it.cri.v1.PodSandboxConfig;
import io.javakata.it.cri.v1.PodSandboxStatus;
import io.javakata.it.cri.v1.PodSandboxStatusRequest;
import io.javakata.it.cri.v1.RemoveContainerRequest;
import io.javakata.it.cri.v1.RemovePodSandboxRequest;
import io.javakata.it.cri.v1.StartContainerRequest;
import io.javakata.it.cri.v1.StopContainerRequest;
import io.javakata.it.cri.v1.StopPodSandboxRequest;

/**
 * One pod sandbox run through CRI, with the kubelet's calls for its containers. {@link #close()} tears it down in
 * the kubelet's order (StopContainer for each running container, StopPodSandbox, RemoveContainer for each,
 * RemovePodSandbox) and removes the pod's cgroup. Not thread-safe.
 */
public final class Pod implements AutoCloseable {

    private final PrivateCri cri;
    private final String id;
    private final PodSandboxConfig config;
    private final String handler;
    private final Duration runTime;
    private final Map<String, String> containers = new LinkedHashMap<>(); // id -> name
    private boolean closed;

    Pod(PrivateCri cri, String id, PodSandboxConfig config, String handler, Duration runTime) {
        this.cri = cri;
        this.id = id;
        this.config = config;
        this.handler = handler;
        this.runTime = runTime;
    }

    public String id() {
        return id;
    }

    public PodSandboxConfig config() {
        return config;
    }

    public String handler() {
        return handler;
    }

    /** How long RunPodSandbox took. */
    public Duration runTime() {
        return runTime;
    }

    public Path logDirectory() {
        return Path.of(config.getLogDirectory());
    }

    /** The log file of container {@code name} (restart 0), as the kubelet names it: {@code <name>/0.log}. */
    public Path logFile(String name) {
        return logDirectory().resolve(name).resolve("0.log");
    }

    public PodSandboxStatus status() {
        return client().runtime().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(id).build()).getStatus();
    }

    /** A container config for busybox running {@code command}, named {@code name}, logging to {@link #logFile}. */
    public ContainerConfig.Builder containerConfig(String name, String... command) {
        return ContainerConfig.newBuilder()
                .setMetadata(ContainerMetadata.newBuilder().setName(name).setAttempt(0))
                .setImage(ImageSpec.newBuilder().setImage(PrivateContainerd.IMAGE))
                .addAllCommand(List.of(command))
                .setLogPath(name + "/0.log")
                .setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(
                        LinuxContainerSecurityContext.newBuilder().setNamespaceOptions(PrivateCri.KUBELET_NAMESPACES)));
    }

    /** CreateContainer; the kubelet creates the container's log directory first. */
    public String create(ContainerConfig config) throws IOException {
        Files.createDirectories(logDirectory().resolve(config.getMetadata().getName()));
        String containerId = client().runtime(Duration.ofSeconds(120)).createContainer(CreateContainerRequest.newBuilder()
                .setPodSandboxId(id).setConfig(config).setSandboxConfig(this.config).build()).getContainerId();
        containers.put(containerId, config.getMetadata().getName());
        return containerId;
    }

    public void start(String containerId) {
        client().runtime(Duration.ofSeconds(120)).startContainer(StartContainerRequest.newBuilder().setContainerId(containerId).build());
    }

    /** CreateContainer and StartContainer of busybox running {@code command}; its id. */
    public String run(String name, String... command) throws IOException {
        return run(containerConfig(name, command).build());
    }

    /** CreateContainer and StartContainer; its id. */
    public String run(ContainerConfig config) throws IOException {
        String containerId = create(config);
        start(containerId);
        return containerId;
    }

    /** CreateContainer with {@code tweak} applied to the default config, then StartContainer. */
    public String run(String name, UnaryOperator<ContainerConfig.Builder> tweak, String... command) throws IOException {
        return run(tweak.apply(containerConfig(name, command)).build());
    }

    /** The id of this pod's container {@code name} (created through this object). */
    public String containerIdOf(String name) {
        return containers.entrySet().stream().filter(e -> e.getValue().equals(name)).map(Map.Entry::getKey).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no container named " + name + " in pod " + id));
    }

    public ContainerStatus containerStatus(String containerId) {
        return client().runtime().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(containerId).build()).getStatus();
    }

    /** The status once the container has exited (polled as the kubelet's PLEG does). */
    public ContainerStatus awaitExit(String containerId, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        ContainerStatus status = containerStatus(containerId);
        while (status.getState() != ContainerState.CONTAINER_EXITED) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("container " + containerId + " still " + status.getState() + " after " + timeout);
            }
            Thread.sleep(100);
            status = containerStatus(containerId);
        }
        return status;
    }

    /** ExecSync of {@code cmd} with a {@code timeout} (CRI's, in seconds; the call's own deadline is longer). */
    public ExecSyncResponse execSync(String containerId, Duration timeout, String... cmd) {
        return client().runtime(timeout.plusSeconds(30)).execSync(ExecSyncRequest.newBuilder()
                .setContainerId(containerId).addAllCmd(List.of(cmd)).setTimeout(timeout.toSeconds()).build());
    }

    /** ExecSync that must exit 0; its stdout. */
    public String execOk(String containerId, String... cmd) {
        ExecSyncResponse response = execSync(containerId, Duration.ofSeconds(60), cmd);
        if (response.getExitCode() != 0) {
            throw new AssertionError("exec " + String.join(" ", cmd) + " in " + containerId + ": exit code " + response.getExitCode()
                    + "\n  stdout: " + response.getStdout().toStringUtf8().strip() + "\n  stderr: " + response.getStderr().toStringUtf8().strip());
        }
        return response.getStdout().toStringUtf8();
    }

    /** The lines of container {@code name}'s CRI log once one of them matches {@code until}. */
    public List<String> awaitLog(String name, Predicate<String> until, Duration timeout) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        Path file = logFile(name);
        while (true) {
            List<String> lines = Files.exists(file) ? Files.readAllLines(file, StandardCharsets.UTF_8) : List.of();
            if (lines.stream().anyMatch(until)) {
                return lines;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no matching line in " + file + " after " + timeout + "; it has:\n" + String.join("\n", lines));
            }
            Thread.sleep(50);
        }
    }

    public void stopContainer(String containerId, long graceSeconds) {
        client().runtime(Duration.ofSeconds(graceSeconds + 60)).stopContainer(
                StopContainerRequest.newBuilder().setContainerId(containerId).setTimeout(graceSeconds).build());
    }

    public void removeContainer(String containerId) {
        client().runtime(Duration.ofSeconds(90)).removeContainer(RemoveContainerRequest.newBuilder().setContainerId(containerId).build());
        containers.remove(containerId);
    }

    public void stop() {
        client().runtime(Duration.ofSeconds(120)).stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(id).build());
    }

    public void remove() {
        client().runtime(Duration.ofSeconds(120)).removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build());
        closed = true;
        cri.removePodCgroup(config);
    }

    /** Tears the pod down in the kubelet's order; the first failure is thrown after every step was tried. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        var failures = new ArrayList<RuntimeException>();
        for (String containerId : List.copyOf(containers.keySet())) {
            attempt(failures, () -> stopContainer(containerId, 2));
        }
        attempt(failures, this::stop);
        for (String containerId : List.copyOf(containers.keySet())) {
            attempt(failures, () -> removeContainer(containerId));
        }
        attempt(failures, this::remove);
        if (!failures.isEmpty()) {
            RuntimeException first = failures.getFirst();
            failures.stream().skip(1).forEach(first::addSuppressed);
            throw first;
        }
    }

    private static void attempt(List<RuntimeException> failures, Runnable step) {
        try {
            step.run();
        } catch (StatusRuntimeException e) {
            failures.add(e);
        }
    }

    private CriClient client() {
        return cri.cri();
    }
}
