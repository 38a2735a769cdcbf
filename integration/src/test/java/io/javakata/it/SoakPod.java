package io.javakata.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.UnaryOperator;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.javakata.it.cri.v1.CreateContainerRequest;
import io.javakata.it.cri.v1.ExecSyncRequest;
import io.javakata.it.cri.v1.ExecSyncResponse;
import io.javakata.it.cri.v1.ListPodSandboxRequest;
import io.javakata.it.cri.v1.PodSandboxStatusRequest;
import io.javakata.it.cri.v1.PodSandboxConfig;
import io.javakata.it.cri.v1.RemovePodSandboxRequest;
import io.javakata.it.cri.v1.RunPodSandboxRequest;
import io.javakata.it.cri.v1.RuntimeServiceGrpc.RuntimeServiceBlockingStub;
import io.javakata.it.cri.v1.StartContainerRequest;
import io.javakata.it.cri.v1.StopPodSandboxRequest;

/**
 * One pod of the soak ({@link Soak}): RunPodSandbox, CreateContainer and StartContainer of busybox {@code sleep 3600},
 * ExecSync of {@code echo} (its output checked) {@code execs} times, StopPodSandbox, RemovePodSandbox, then what the
 * kubelet does (the pod's cgroup removed), then a search for anything of this pod left on the host.
 *
 * <p>Every CRI call's deadline is what is left of the pod's deadline, so a pod stuck anywhere fails by then. The pod's
 * shim's open descriptors are counted after StartContainer and after each ExecSync. Not thread-safe: one instance
 * per pod; pods run at once each have their own.
 */
final class SoakPod {

    /** What is done to a pod whose round trip failed, each call with this deadline. */
    static final Duration CLEANUP_DEADLINE = Duration.ofSeconds(120);

    /**
     * One pod's outcome.
     *
     * @param steps    milliseconds per step, in order (run, create, start, exec1…, stop, remove)
     * @param shimFds  the shim's open descriptors after StartContainer and after each ExecSync
     * @param failures why the round trip failed (a CRI error, a wrong answer, the deadline); empty if it did not
     * @param leaks    what of this pod was still on the host after the settle time
     */
    record Result(String name, String podId, Duration total, Map<String, Long> steps, List<Integer> shimFds,
                  List<String> failures, List<String> leaks) {

        boolean ok() {
            return failures.isEmpty() && leaks.isEmpty();
        }
    }

    private final PrivateCri cri;
    private final String name;
    private final Duration deadline;
    private final int execs;
    private final Duration settle;
    private final Map<String, Long> steps = new LinkedHashMap<>();
    private final List<Integer> shimFds = new ArrayList<>();
    private final List<String> failures = new ArrayList<>();
    private long deadlineNanos;
    /** The network namespaces of the pod ("net:[…]"): the pod's own and, where QEMU runs in another, QEMU's. */
    private final List<String> namespaces = new ArrayList<>();
    private String containerId;

    /**
     * @param deadline the whole round trip's, RunPodSandbox to RemovePodSandbox
     * @param settle   how long the pod's leftovers may take to go after RemovePodSandbox (a shim exits a moment later)
     */
    SoakPod(PrivateCri cri, String name, Duration deadline, int execs, Duration settle) {
        this.cri = cri;
        this.name = name;
        this.deadline = deadline;
        this.execs = execs;
        this.settle = settle;
    }

    Result run() throws IOException, InterruptedException {
        PodSandboxConfig config = cri.podConfig(name, UnaryOperator.identity());
        long start = System.nanoTime();
        deadlineNanos = start + deadline.toNanos();
        String podId = null;
        try {
            PrivateCri.preparePod(config);
            podId = call("run", s -> s.runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(config)
                    .setRuntimeHandler(PrivateCri.HANDLER).build()).getPodSandboxId());
            roundTrip(podId, config);
        } catch (StatusRuntimeException | AssertionError e) {
            failures.add(e.getMessage());
            cleanUp(podId, config);
        }
        Duration total = Duration.ofNanos(System.nanoTime() - start);
        cri.removePodCgroup(config);
        return new Result(name, podId, total, steps, shimFds, failures, leaksAfter(podId, config));
    }

    private void roundTrip(String podId, PodSandboxConfig config) throws IOException {
        var pod = new Pod(cri, podId, config, PrivateCri.HANDLER, Duration.ZERO);
        var container = pod.containerConfig("c", "sleep", "3600").build();
        Files.createDirectories(pod.logDirectory().resolve("c"));
        containerId = call("create", s -> s.createContainer(CreateContainerRequest.newBuilder()
                .setPodSandboxId(podId).setConfig(container).setSandboxConfig(config).build()).getContainerId());
        call("start", s -> s.startContainer(StartContainerRequest.newBuilder().setContainerId(containerId).build()));
        long shim = vmProcesses(podId);
        sampleFds(shim);
        for (int i = 1; i <= execs; i++) {
            String word = "soak-" + name + "-" + i;
            ExecSyncResponse answer = call("exec" + i, s -> s.execSync(ExecSyncRequest.newBuilder().setContainerId(containerId)
                    .addCmd("echo").addCmd(word).setTimeout(30).build()));
            String out = answer.getStdout().toStringUtf8();
            if (answer.getExitCode() != 0 || !out.equals(word + "\n")) {
                throw new AssertionError("ExecSync echo " + word + ": exit code " + answer.getExitCode() + ", stdout \""
                        + out.strip() + "\", stderr \"" + answer.getStderr().toStringUtf8().strip() + "\"");
            }
            sampleFds(shim);
        }
        if (shim > 0 && shimFds.size() > 2 && shimFds.getLast() > shimFds.get(1)) {
            // The first exec may open what the shim opens once (a class's jar entry, a lazily made socket); later ones may not.
            throw new AssertionError("the shim's open descriptors grew from " + shimFds.get(1) + " after the first ExecSync to "
                    + shimFds.getLast() + " after the last: " + HostInventory.fdKinds(shim));
        }
        call("stop", s -> s.stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(podId).build()));
        call("remove", s -> s.removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(podId).build()));
    }

    /**
     * Finds the pod's shim (its pid, returned) and QEMU, and notes the pod's network namespace and QEMU's (the pod's
     * when QEMU booted in it, one of its own when restored from a template), whose holders are looked for after
     * removal. Runtimes without a VM (runc) have neither: -1.
     */
    private long vmProcesses(String podId) throws IOException {
        List<String> shims = HostInventory.processesMentioning("-id " + podId + " ");
        if (!PrivateCri.HANDLER.equals("javakata")) {
            return -1;
        }
        String sandbox = cri.containerd().sandboxDir(podId).toString();
        List<String> qemu = HostInventory.processesMentioning(sandbox).stream().filter(p -> p.contains("qemu-system")).toList();
        if (shims.size() != 1 || qemu.size() != 1) {
            throw new AssertionError("pod " + podId + " runs, but its shim and QEMU are not one process each: shims " + shims
                    + ", QEMU " + qemu);
        }
        String ip = call("status", st -> st.podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(podId)
                .build())).getStatus().getNetwork().getIp();
        namespaces.add("net:[" + Files.getAttribute(cri.containerd().podNetns(ip), "unix:ino") + "]");
        String qemuNetns = HostInventory.netnsOf(pid(qemu.getFirst()));
        if (qemuNetns != null && !namespaces.contains(qemuNetns)) {
            namespaces.add(qemuNetns);
        }
        return pid(shims.getFirst());
    }

    private void sampleFds(long shim) {
        if (shim > 0) {
            shimFds.add(HostInventory.fdCount(shim));
        }
    }

    /** Makes one CRI call with what is left of the pod's deadline and records how long it took. */
    private <T> T call(String step, Function<RuntimeServiceBlockingStub, T> call) {
        long left = deadlineNanos - System.nanoTime();
        if (left <= 0) {
            throw new AssertionError("stuck: the pod's deadline of " + deadline.toSeconds() + " s passed before " + step);
        }
        long start = System.nanoTime();
        try {
            return call.apply(cri.cri().runtime(Duration.ofNanos(left)));
        } catch (StatusRuntimeException e) {
            // containerd answers DEADLINE_EXCEEDED for its own timeouts too (a VM that did not boot in time): stuck means ours.
            if (e.getStatus().getCode() == Status.Code.DEADLINE_EXCEEDED && System.nanoTime() >= deadlineNanos) {
                throw new AssertionError("stuck: " + step + " still running at the pod's deadline of " + deadline.toSeconds()
                        + " s (" + e.getMessage() + ")", e);
            }
            throw new AssertionError(step + ": " + e.getMessage(), e);
        } finally {
            steps.put(step, (System.nanoTime() - start) / 1_000_000);
        }
    }

    /** After a failure: StopPodSandbox and RemovePodSandbox, as the kubelet would retry them; errors are recorded. */
    private void cleanUp(String podId, PodSandboxConfig config) {
        String id = podId != null ? podId : findPod(config);
        if (id == null) {
            return;
        }
        try {
            cri.cri().runtime(CLEANUP_DEADLINE).stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(id).build());
            cri.cri().runtime(CLEANUP_DEADLINE).removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build());
        } catch (StatusRuntimeException e) {
            failures.add("clean-up of " + id + ": " + e.getMessage());
        }
    }

    /** The sandbox CRI made for {@code config} (a RunPodSandbox that failed or timed out may have made one), or null. */
    private String findPod(PodSandboxConfig config) {
        try {
            return cri.cri().runtime(CLEANUP_DEADLINE).listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()
                    .stream().filter(p -> p.getMetadata().getUid().equals(config.getMetadata().getUid()))
                    .map(p -> p.getId()).findFirst().orElse(null);
        } catch (StatusRuntimeException e) {
            failures.add("clean-up: ListPodSandbox: " + e.getMessage());
            return null;
        }
    }

    /** This pod's leftovers once they are all gone or {@link #settle} has passed: the last list seen. */
    private List<String> leaksAfter(String podId, PodSandboxConfig config) throws IOException, InterruptedException {
        long until = System.nanoTime() + settle.toNanos();
        List<String> leaks = leaks(podId, config);
        while (!leaks.isEmpty() && System.nanoTime() < until) {
            Thread.sleep(200);
            leaks = leaks(podId, config);
        }
        return leaks;
    }

    private List<String> leaks(String podId, PodSandboxConfig config) throws IOException {
        var leaks = new ArrayList<String>();
        String uid = config.getMetadata().getUid();
        for (String cgroup : cri.cgroupLeaks()) {
            if (cgroup.contains("pod" + uid)) {
                leaks.add("cgroup " + cgroup);
            }
        }
        if (podId == null) {
            return leaks;
        }
        PrivateContainerd containerd = cri.containerd();
        Path sandbox = containerd.sandboxDir(podId);
        HostInventory.processesMentioning(sandbox.toString()).forEach(p -> leaks.add("process " + p));
        HostInventory.processesMentioning("-id " + podId + " ").forEach(p -> leaks.add("shim " + p));
        if (Files.exists(sandbox)) {
            leaks.add("sandbox state " + sandbox);
        }
        if (Files.exists(containerd.shimSocket(podId))) {
            leaks.add("shim socket " + containerd.shimSocket(podId));
        }
        for (Path root : List.of(containerd.dir(), PrivateContainerd.STATE)) {
            PrivateContainerd.mountsUnder(root).stream().filter(m -> m.contains(podId) || m.startsWith(sandbox.toString())
                            || (containerId != null && m.contains(containerId)))
                    .forEach(m -> leaks.add("mount " + m));
        }
        for (String netns : namespaces) {
            HostInventory.netnsHolders(netns).forEach(h -> leaks.add("network namespace " + netns + ": " + h));
        }
        return leaks;
    }

    private static long pid(String processLine) {
        return Long.parseLong(processLine.substring(0, processLine.indexOf(' ')));
    }
}
