package io.javakata.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

import io.grpc.StatusRuntimeException;
import io.javakata.it.cri.CriClient;
import io.javakata.it.cri.v1.LinuxPodSandboxConfig;
import io.javakata.it.cri.v1.LinuxSandboxSecurityContext;
import io.javakata.it.cri.v1.NamespaceMode;
import io.javakata.it.cri.v1.NamespaceOption;
import io.javakata.it.cri.v1.PodSandboxConfig;
import io.javakata.it.cri.v1.PodSandboxMetadata;
import io.javakata.it.cri.v1.RunPodSandboxRequest;
import io.javakata.it.cri.v1.RuntimeCondition;
import io.javakata.it.cri.v1.StatusRequest;

/**
 * A private containerd driven through CRI, as the kubelet drives it (register it as a static
 * {@code @RegisterExtension} field). It wraps a {@link PrivateContainerd} in namespace {@code k8s.io} with the
 * busybox image ({@value PrivateContainerd#IMAGE}) and the sandbox image ({@value #PAUSE_IMAGE}) imported, waits
 * until CRI reports RuntimeReady and NetworkReady, and gives a {@link CriClient}. Pods get their log directory
 * under the containerd directory and a cgroup parent {@code /jkit-<dir>/pod<uid>} (the kubelet's job, done
 * here): both are removed with the pod. After the class, PrivateContainerd's leak check runs (it covers pod
 * network namespaces and veth interfaces too), plus a check that no pod cgroup is left.
 */
public final class PrivateCri implements BeforeAllCallback, AfterAllCallback {

    public static final String PAUSE_IMAGE = "localhost/javakata/pause:1";
    /** The CRI runtime handler under test ({@code -Djavakata.it.handler=runc} checks the tests against runc). */
    public static final String HANDLER = System.getProperty("javakata.it.handler", "javakata");
    /**
     * The handler whose pods reach their agent over hybrid vsock and boot a VM each (scripts/containerd.sh): what a
     * test of a booting guest or of the vsock backend runs, whatever the suite's handler does on this host.
     */
    public static final String HVSOCK_HANDLER = "javakata-hvsock";
    static final List<String> CGROUP_CONTROLLERS = List.of("blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer",
            "memory", "pids", "systemd", "unified");

    /** What the kubelet sends for a pod without shareProcessNamespace or host namespaces. */
    static final NamespaceOption KUBELET_NAMESPACES = NamespaceOption.newBuilder()
            .setNetwork(NamespaceMode.POD).setPid(NamespaceMode.CONTAINER).setIpc(NamespaceMode.POD).build();

    private final PrivateContainerd containerd;
    /** Written by {@link Pod#close()} of pods that may run at once (the soak's concurrent wave). */
    private final List<String> cgroupLeaks = Collections.synchronizedList(new ArrayList<>());
    private CriClient cri;

    /** On the system's containerd. */
    public PrivateCri() {
        this(Optional.empty());
    }

    /** On the containerd and ctr in {@code binaries} (another containerd version), or the system's. */
    public PrivateCri(Optional<Path> binaries) {
        this(new PrivateContainerd("k8s.io", binaries));
    }

    private PrivateCri(PrivateContainerd containerd) {
        this.containerd = containerd;
    }

    /** CRI on a stand-in node with no Java and no javakata ({@link PrivateContainerd#node}): only the runc handler. */
    public static PrivateCri node() {
        return new PrivateCri(PrivateContainerd.node("k8s.io"));
    }

    public PrivateContainerd containerd() {
        return containerd;
    }

    public CriClient cri() {
        return cri;
    }

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        start(context);
    }

    /**
     * Starts containerd and waits until CRI is ready; what {@code beforeAll} does, for a test that runs one containerd
     * per invocation (then {@link #stop} after it). {@code context} may be null.
     */
    public void start(ExtensionContext context) throws Exception {
        containerd.beforeAll(context);
        containerd.importImage(PrivateContainerd.imageArchive("pause.tar", PAUSE_IMAGE, true));
        cri = new CriClient(containerd.dir().resolve("c.sock"));
        awaitReady(Duration.ofSeconds(30));
    }

    /** Waits until CRI reports RuntimeReady and NetworkReady (after a start or a restart of containerd). */
    public void awaitReady(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            List<RuntimeCondition> conditions = List.of();
            try {
                conditions = cri.runtime(Duration.ofSeconds(10)).status(StatusRequest.getDefaultInstance()).getStatus()
                        .getConditionsList();
            } catch (StatusRuntimeException e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
            }
            boolean ready = conditions.stream().filter(c -> c.getType().equals("RuntimeReady") || c.getType().equals("NetworkReady"))
                    .filter(c -> c.getStatus()).count() == 2;
            if (ready) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("CRI not ready after " + timeout + ": " + conditions);
            }
            Thread.sleep(200);
        }
    }

    @Override
    public void afterAll(ExtensionContext context) throws Exception {
        stop(context);
    }

    /** What {@code afterAll} does: the leak checks, containerd stopped, every leak cleaned up and then reported. */
    public void stop(ExtensionContext context) throws Exception {
        AssertionError failure = null;
        try {
            containerd.afterAll(context);
        } catch (AssertionError e) {
            failure = e;
        } finally {
            if (cri != null) {
                cri.close();
            }
        }
        String top = topCgroup();
        for (String controller : CGROUP_CONTROLLERS) {
            Path path = Path.of("/sys/fs/cgroup", controller, top);
            if (Files.isDirectory(path)) {
                removeCgroupTree(path);
            }
        }
        if (failure == null && !cgroupLeaks.isEmpty()) {
            failure = new AssertionError("pod cgroups left behind (now removed where possible):\n  " + String.join("\n  ", cgroupLeaks));
        }
        if (failure != null) {
            throw failure;
        }
    }

    /** The directory pods' log directories go under. */
    public Path podLogRoot() {
        return containerd.dir().resolve("pods");
    }

    /** The first component of every pod's cgroup parent, one per containerd. */
    String topCgroup() {
        return "jkit-" + containerd.dir().getFileName();
    }

    /**
     * The sandbox config the kubelet would send for pod {@code name}: metadata with a fresh uid in namespace
     * {@code jkit}, hostname = name, log directory {@code <dir>/pods/jkit_<name>_<uid>}, cgroup parent
     * {@code /jkit-<dir>/pod<uid>}. {@code tweak} may change it.
     */
    public PodSandboxConfig podConfig(String name, UnaryOperator<PodSandboxConfig.Builder> tweak) {
        String uid = UUID.randomUUID().toString();
        var builder = PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName(name).setNamespace("jkit").setUid(uid).setAttempt(0))
                .setHostname(name)
                .setLogDirectory(podLogRoot().resolve("jkit_" + name + "_" + uid).toString())
                .setLinux(LinuxPodSandboxConfig.newBuilder().setCgroupParent("/" + topCgroup() + "/pod" + uid)
                        .setSecurityContext(LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(KUBELET_NAMESPACES)));
        return tweak.apply(builder).build();
    }

    /** Runs pod {@code name} with {@link #HANDLER} and the default config. */
    public Pod runPod(String name) throws IOException {
        return runPod(podConfig(name, UnaryOperator.identity()), HANDLER);
    }

    /** Runs a pod from {@code config} with runtime handler {@code handler}, as the kubelet does: log directory first. */
    public Pod runPod(PodSandboxConfig config, String handler) throws IOException {
        return runPod(config, handler, Duration.ofSeconds(180));
    }

    /** As {@link #runPod(PodSandboxConfig, String)} with RunPodSandbox's deadline {@code deadline}. */
    public Pod runPod(PodSandboxConfig config, String handler, Duration deadline) throws IOException {
        preparePod(config);
        long start = System.nanoTime();
        var response = cri.runtime(deadline)
                .runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(config).setRuntimeHandler(handler).build());
        return new Pod(this, response.getPodSandboxId(), config, handler, Duration.ofNanos(System.nanoTime() - start));
    }

    /** What the kubelet does before RunPodSandbox: the pod's log directory and its cgroup. */
    static void preparePod(PodSandboxConfig config) throws IOException {
        Files.createDirectories(Path.of(config.getLogDirectory()));
        createPodCgroup(config);
    }

    /** What {@link #removePodCgroup} found left behind so far (and the class will fail for). */
    List<String> cgroupLeaks() {
        synchronized (cgroupLeaks) {
            return List.copyOf(cgroupLeaks);
        }
    }

    /** Creates the pod's cgroup in every v1 hierarchy, as the kubelet does before RunPodSandbox. */
    private static void createPodCgroup(PodSandboxConfig config) throws IOException {
        String parent = config.getLinux().getCgroupParent();
        if (parent.isEmpty()) {
            return;
        }
        for (String controller : CGROUP_CONTROLLERS) {
            Path hierarchy = Path.of("/sys/fs/cgroup", controller);
            if (Files.isDirectory(hierarchy) && !controller.equals("unified")) {
                Path path = hierarchy.resolve(parent.substring(1));
                Files.createDirectories(path);
                if (controller.equals("cpuset")) {
                    // A new cpuset cgroup starts with no CPUs and memory nodes: copy the parent's, as the kubelet does.
                    for (Path dir = path; !dir.equals(hierarchy); dir = dir.getParent()) {
                        copyFromParent(dir, "cpuset.cpus");
                        copyFromParent(dir, "cpuset.mems");
                    }
                }
            }
        }
    }

    private static void copyFromParent(Path dir, String file) throws IOException {
        // Top-down order matters: fill the parent first.
        Path parent = dir.getParent();
        if (parent.resolve(file).toFile().exists() && Files.readString(parent.resolve(file)).isBlank()) {
            copyFromParent(parent, file);
        }
        if (Files.readString(dir.resolve(file)).isBlank()) {
            Files.writeString(dir.resolve(file), Files.readString(parent.resolve(file)).strip());
        }
    }

    /**
     * Removes the pod's cgroup (the kubelet's part): called by {@link Pod#close()}; records what could not be removed,
     * and any cgroup the runtime left under the pod's parent (the sandbox's and containers' cgroups are the runtime's to
     * remove; a few seconds are allowed for a shim that is still shutting down).
     */
    void removePodCgroup(PodSandboxConfig config) {
        String parent = config.getLinux().getCgroupParent();
        if (parent.isEmpty()) {
            return;
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        for (String controller : CGROUP_CONTROLLERS) {
            Path path = Path.of("/sys/fs/cgroup", controller, parent);
            if (Files.isDirectory(path)) {
                List<Path> left = childCgroups(path);
                while (!left.isEmpty() && System.nanoTime() < deadline) {
                    try {
                        Thread.sleep(100);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        break;
                    }
                    left = childCgroups(path);
                }
                for (Path child : left) {
                    cgroupLeaks.add(child + " (left by the runtime after RemovePodSandbox)");
                }
                removeCgroupTree(path);
            }
        }
    }

    private static List<Path> childCgroups(Path path) {
        try (Stream<Path> children = Files.list(path)) {
            return children.filter(Files::isDirectory).toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    private void removeCgroupTree(Path path) {
        try (Stream<Path> children = Files.list(path)) {
            for (Path child : children.filter(Files::isDirectory).toList()) {
                removeCgroupTree(child);
            }
        } catch (IOException e) {
            cgroupLeaks.add(path + ": " + e.getMessage());
            return;
        }
        try {
            Files.delete(path); // rmdir of a cgroup: fails while it has tasks
        } catch (IOException e) {
            String tasks = "";
            try {
                tasks = Files.readString(path.resolve("cgroup.procs")).strip().replace('\n', ' ');
            } catch (IOException ignored) {
                // gone meanwhile
            }
            cgroupLeaks.add(path + " (processes: " + tasks + ")");
        }
    }
}
