package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.grpc.StatusRuntimeException;
import io.javakata.it.cri.v1.ImageSpec;
import io.javakata.it.cri.v1.KeyValue;
import io.javakata.it.cri.v1.Mount;
import io.javakata.it.cri.v1.NamespaceMode;
import io.javakata.it.cri.v1.NamespaceOption;
import io.javakata.it.cri.v1.PodSandboxConfig;

/**
 * Issue 12 items 1 to 3: the release that {@code make dist} builds, on a node with no Java at all. The node is a
 * stand-in (PrivateCri.node(): containerd in a mount and PID namespace of its own, where tmpfs hides every JDK and
 * the node's /etc/containerd, /opt, /usr/local/bin and /run/javakata are directories of the test), its containerd
 * configured for runc only, as a Kubernetes node before javakata.
 *
 * <p>First the installer alone, against a containerd that does not come back after the restart: it must roll back
 * to the node as it was. Then what the kubelet would do with deploy/javakata-deploy.yaml: its pod template becomes CRI
 * calls (hostPID, privileged, the same hostPath mount of the node's root) for the image the release builds, the
 * installer runs in that container and wires the node's containerd, and a pod with handler {@code javakata} runs
 * through CRI on what it installed: a container with a log line, an exec, stop and remove, its shim running the
 * release's own Java. The preStop hook, as the kubelet runs it when the DaemonSet goes, then leaves the node as it was.
 */
@Tag("containerd")
@Tag("qemu")
@Tag("cri")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(value = 600, unit = TimeUnit.SECONDS)
class DistIT {

    @RegisterExtension
    static final PrivateCri CRI = PrivateCri.node();

    private static Path release;
    private static Path deployImage;
    private static String version;
    private static byte[] nodeConfig;

    @BeforeAll
    static void unpackTheRelease() throws Exception {
        Path dist = PrivateContainerd.repo().resolve("build/dist");
        Path archive = only(dist, "-linux-amd64.tar.gz");
        deployImage = only(dist, ".oci.tar");
        Path unpacked = CRI.containerd().dir().resolve("release");
        Files.createDirectories(unpacked);
        var tar = Ctr.execute(List.of("tar", "-xzf", archive.toString(), "-C", unpacked.toString()), null, Duration.ofSeconds(120));
        tar.assertOk();
        try (Stream<Path> top = Files.list(unpacked)) {
            release = top.findFirst().orElseThrow();
        }
        version = Files.readString(release.resolve("VERSION")).strip();
        nodeConfig = Files.readAllBytes(nodeFile("etc/containerd/config.toml"));
    }

    @Test
    @Order(1)
    void theNodeHasNoJava() throws IOException {
        var java = CRI.containerd().onNode(Duration.ofSeconds(10), "sh", "-c", "command -v java || java -version");
        assertNotEquals(0, java.exitCode(), "java on the stand-in node: " + java.describe());
        var jvm = CRI.containerd().onNode(Duration.ofSeconds(10), "ls", "-A", "/usr/lib/jvm").assertOk();
        assertEquals("", jvm.stdout().strip(), "/usr/lib/jvm on the stand-in node");
    }

    @Test
    @Order(2)
    void installRollsBackWhenContainerdDoesNotComeBack() throws Exception {
        Path dir = CRI.containerd().dir();
        // The first restart leaves containerd down: the one it starts refuses its command line and exits, as a
        // containerd that cannot load its configuration does. The next restart (the rollback's) is the real one.
        Path broken = dir.resolve("broken-restart");
        Files.writeString(broken, """
                #!/bin/bash
                if [ ! -e %1$s/broken-once ]; then
                    touch %1$s/broken-once
                    pid=$(cat %1$s/containerd.nspid)
                    kill -TERM "$pid"
                    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
                    containerd --config %2$s --no-such-flag >>%1$s/containerd.log 2>&1
                    exit 0
                fi
                exec %1$s/restart-containerd
                """.formatted(dir, nodeFile("etc/containerd/config.toml")));
        Files.setPosixFilePermissions(broken, PosixFilePermissions.fromString("rwxr-xr-x"));

        var install = CRI.containerd().onNode(Duration.ofMinutes(4), release.resolve("bin/javakata-install").toString(),
                "install", "--containerd-socket", dir.resolve("c.sock").toString(), "--restart-cmd", broken.toString(),
                "--timeout", "15");

        assertNotEquals(0, install.exitCode(), install.describe());
        assertTrue(install.stderr().contains("did not answer on " + dir.resolve("c.sock")), install.describe());
        assertTrue(install.stderr().contains("rolled back"), install.describe());
        assertNodeAsBefore();
        CRI.awaitReady(Duration.ofSeconds(60));
    }

    @Test
    @Order(3)
    void theDaemonSetInstallsAndAJavakataPodRunsOnTheNodeWithNoJava() throws Exception {
        DaemonSet daemonSet = DeployManifests.one(release.resolve("deploy/javakata-deploy.yaml"), DaemonSet.class);
        PodSpec spec = daemonSet.getSpec().getTemplate().getSpec();
        CRI.containerd().importImage(deployImage);
        Pod installer = CRI.runPod(sandboxConfig(spec, daemonSet.getSpec().getTemplate().getMetadata().getLabels()), "runc");
        try {
            Container container = spec.getContainers().getFirst();
            String id = installer.run(containerConfig(installer, spec, container).build());
            List<String> probe = container.getReadinessProbe().getExec().getCommand();
            Await.until(() -> "the installer's readiness probe " + probe + "; its log:\n" + log(installer, container),
                    Duration.ofMinutes(4), Duration.ofSeconds(1), () -> answers(installer, id, probe));
            CRI.awaitReady(Duration.ofSeconds(60));
            assertTrue(Files.isSymbolicLink(nodeFile("usr/local/bin/containerd-shim-javakata-v2")));
            assertTrue(Files.exists(nodeFile("etc/containerd/conf.d/javakata.toml")));

            runAJavakataPod();

            // The DaemonSet goes: the kubelet runs the preStop hook, then stops the container. The hook's uninstall
            // restarts containerd, which may end the exec call before the hook does.
            List<String> preStop = container.getLifecycle().getPreStop().getExec().getCommand();
            try {
                var response = installer.execSync(id, Duration.ofMinutes(3), preStop.toArray(String[]::new));
                assertEquals(0, response.getExitCode(), "preStop " + preStop + ": " + response.getStderr().toStringUtf8());
            } catch (StatusRuntimeException e) {
                // containerd restarted under the exec: the hook goes on in the container
            }
            Await.until(() -> "uninstall by the preStop hook; the installer's log:\n" + log(installer, container),
                    Duration.ofMinutes(3), Duration.ofSeconds(1), () -> !Files.exists(nodeFile("opt/javakata")));
            CRI.awaitReady(Duration.ofSeconds(60));
        } finally {
            installer.close();
        }
        assertNodeAsBefore();
    }

    /** A javakata pod through CRI on the configuration the installer wrote: log, exec, stop, remove. */
    private static void runAJavakataPod() throws Exception {
        try (Pod pod = CRI.runPod(CRI.podConfig("untrusted", UnaryOperator.identity()), "javakata")) {
            String app = pod.run("app", "sh", "-c", "echo guest kernel $(uname -r); sleep 3600");
            var lines = pod.awaitLog("app", l -> l.contains("guest kernel"), Duration.ofSeconds(120));
            String hostKernel = Files.readString(Path.of("/proc/sys/kernel/osrelease")).strip();
            assertFalse(lines.stream().anyMatch(l -> l.endsWith("guest kernel " + hostKernel)), "ran on the host's kernel: " + lines);
            assertEquals("exec", pod.execOk(app, "echo", "exec").strip());

            // Its shim is the release's launcher on the release's own runtime, with the AOT cache install made.
            String releaseDir = "/opt/javakata/releases/" + version + "/";
            List<String> shims = ProcessHandle.allProcesses().map(p -> PrivateContainerd.cmdline(p.pid()))
                    .filter(c -> c.contains(releaseDir + "lib/javakata-shim.jar")).toList();
            assertFalse(shims.isEmpty(), "no shim of the release runs");
            for (String shim : shims) {
                assertTrue(shim.startsWith(releaseDir + "runtime/bin/java "), shim);
                assertTrue(shim.contains("-XX:AOTCache=" + releaseDir + "lib/javakata-shim.aot"), shim);
            }
            pod.stopContainer(app, 2);
            pod.stop();
            pod.removeContainer(app);
            pod.remove();
        }
    }

    /** The sandbox the kubelet asks for the DaemonSet's pod: host PID namespace, privileged, the template's labels. */
    private static PodSandboxConfig sandboxConfig(PodSpec spec, Map<String, String> labels) {
        NamespaceOption namespaces = NamespaceOption.newBuilder()
                .setNetwork(Boolean.TRUE.equals(spec.getHostNetwork()) ? NamespaceMode.NODE : NamespaceMode.POD)
                .setPid(Boolean.TRUE.equals(spec.getHostPID()) ? NamespaceMode.NODE : NamespaceMode.CONTAINER)
                .setIpc(Boolean.TRUE.equals(spec.getHostIPC()) ? NamespaceMode.NODE : NamespaceMode.POD).build();
        boolean privileged = spec.getContainers().stream()
                .anyMatch(c -> c.getSecurityContext() != null && Boolean.TRUE.equals(c.getSecurityContext().getPrivileged()));
        return CRI.podConfig("javakata-deploy", b -> {
            b.putAllLabels(labels);
            b.getLinuxBuilder().getSecurityContextBuilder().setNamespaceOptions(namespaces).setPrivileged(privileged);
            return b;
        });
    }

    /**
     * The container the kubelet creates from the template: image, command, environment (NODE_NAME from the downward
     * API), hostPath mounts, privileged, the pod's namespaces. One value differs on this stand-in node:
     * JAVAKATA_INSTALL_ARGS names where its containerd listens and how it restarts (a node's is systemd's).
     */
    private static io.javakata.it.cri.v1.ContainerConfig.Builder containerConfig(Pod pod, PodSpec spec, Container c) {
        Path dir = CRI.containerd().dir();
        var builder = pod.containerConfig(c.getName(), c.getCommand().toArray(String[]::new))
                .setImage(ImageSpec.newBuilder().setImage(c.getImage()));
        for (var env : c.getEnv()) {
            String value = switch (env.getName()) {
                case "NODE_NAME" -> "jk-node";
                case "JAVAKATA_INSTALL_ARGS" -> "--containerd-socket " + dir.resolve("c.sock") + " --restart-cmd "
                        + dir.resolve("restart-containerd");
                default -> env.getValue();
            };
            builder.addEnvs(KeyValue.newBuilder().setKey(env.getName()).setValue(value));
        }
        for (var mount : c.getVolumeMounts()) {
            var volume = spec.getVolumes().stream().filter(v -> v.getName().equals(mount.getName())).findFirst().orElseThrow();
            builder.addMounts(Mount.newBuilder().setContainerPath(mount.getMountPath())
                    .setHostPath(volume.getHostPath().getPath()).setReadonly(Boolean.TRUE.equals(mount.getReadOnly())));
        }
        var security = builder.getLinuxBuilder().getSecurityContextBuilder()
                .setPrivileged(Boolean.TRUE.equals(c.getSecurityContext().getPrivileged()));
        security.setNamespaceOptions(security.getNamespaceOptions().toBuilder()
                .setPid(Boolean.TRUE.equals(spec.getHostPID()) ? NamespaceMode.NODE : NamespaceMode.CONTAINER));
        return builder;
    }

    private static boolean answers(Pod pod, String id, List<String> probe) {
        try {
            return pod.execSync(id, Duration.ofSeconds(10), probe.toArray(String[]::new)).getExitCode() == 0;
        } catch (StatusRuntimeException e) {
            return false; // containerd restarting
        }
    }

    private static String log(Pod pod, Container c) {
        try {
            return String.join("\n", Files.readAllLines(pod.logFile(c.getName())));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    /** The node as it was before install: containerd's configuration byte for byte, nothing of javakata. */
    private static void assertNodeAsBefore() throws IOException {
        assertArrayEquals(nodeConfig, Files.readAllBytes(nodeFile("etc/containerd/config.toml")),
                "the node's containerd configuration changed:\n" + Files.readString(nodeFile("etc/containerd/config.toml")));
        assertFalse(Files.exists(nodeFile("etc/containerd/conf.d")), "conf.d left");
        assertFalse(Files.exists(nodeFile("opt/javakata")), "/opt/javakata left");
        try (Stream<Path> bin = Files.list(nodeFile("usr/local/bin"))) {
            assertEquals(List.of(), bin.toList(), "/usr/local/bin");
        }
    }

    private static Path nodeFile(String path) {
        return CRI.containerd().nodeRoot().resolve(path);
    }

    private static Path only(Path dir, String suffix) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new IllegalStateException("no " + dir + ": run make dist first (make test does)");
        }
        try (Stream<Path> files = Files.list(dir)) {
            var found = files.filter(f -> f.getFileName().toString().endsWith(suffix)).toList();
            if (found.size() != 1) {
                throw new IllegalStateException(dir + ": " + found.size() + " files *" + suffix + ", expected one (run make dist)");
            }
            return found.getFirst();
        }
    }
}
