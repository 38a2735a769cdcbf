package io.javakata.shim.cli;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The launcher's JVM-less answer to a joining container's {@code start} (join_pod in
 * src/main/dist/containerd-shim-javakata-v2) against the JVM's own derivation ({@link ShimAddresses}): for the same
 * containerd address, namespace and sandbox id both name the same socket, and anything the shell cannot vouch for
 * goes to the JVM. The launcher runs with a fake java that prints "JVM" and its arguments; the pod's shim is a shell
 * whose command line is a daemon's ({@code ... -socket SOCKET serve}), listening on a real UNIX socket.
 */
@Timeout(30)
class LauncherJoinTest {

    private static final Path LAUNCHER = Path.of("src/main/dist/containerd-shim-javakata-v2");
    private static final String CONTAINERD = "/run/containerd/containerd.sock";

    @TempDir
    Path dir;
    private Path launcher;
    private final List<Process> daemons = new ArrayList<>();
    private final List<ServerSocketChannel> sockets = new ArrayList<>();

    @BeforeEach
    void fakeJava() throws IOException {
        Path javaHome = dir.resolve("jdk");
        Files.createDirectories(javaHome.resolve("bin"));
        Path java = javaHome.resolve("bin/java");
        Files.writeString(java, "#!/bin/sh\necho JVM \"$@\"\n");
        Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));
        launcher = dir.resolve("containerd-shim-javakata-v2");
        Files.writeString(launcher, Files.readString(LAUNCHER).replace("@JAVAKATA_JAVA_HOME@", javaHome.toString()));
        Files.setPosixFilePermissions(launcher, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    @AfterEach
    void stopDaemons() throws IOException {
        daemons.forEach(Process::destroyForcibly);
        for (var s : sockets) {
            s.close();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"pod1", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "a.b_c-D", "x"})
    void joiningContainerGetsTheAddressTheJvmDerives(String sandbox) throws Exception {
        Path stateDir = dir.resolve("state");
        Path socket = ShimAddresses.socketPath(stateDir, CONTAINERD, "k8s.io", sandbox);
        Path bundles = dir.resolve("task/k8s.io");
        runningPod(bundles, sandbox, socket);
        Path bundle = container(bundles, "c-" + sandbox, sandbox, true);

        var result = start(bundle, "-namespace", "k8s.io", "-address", CONTAINERD, "-publish-binary",
                "/usr/bin/containerd", "-id", "c-" + sandbox, "start");

        assertEquals(0, result.status(), result.output());
        assertEquals("unix://" + socket, result.output());
        assertEquals("unix://" + socket, Files.readString(bundle.resolve("address")));
        assertFalse(Files.exists(bundle.resolve(".address")));
    }

    @Test
    void debugFlagAndDoubleDashFlagsAreContainerdsToo() throws Exception {
        Path socket = ShimAddresses.socketPath(dir.resolve("state"), CONTAINERD, "default", "pod2");
        Path bundles = dir.resolve("task/default");
        runningPod(bundles, "pod2", socket);
        Path bundle = container(bundles, "c2", "pod2", true);

        var result = start(bundle, "--namespace", "default", "--address", CONTAINERD, "-debug", "--id", "c2", "start");

        assertEquals("unix://" + socket, result.output());
    }

    @Test
    void everythingElseGoesToTheJvm() throws Exception {
        Path bundles = dir.resolve("task/k8s.io");
        Path socket = ShimAddresses.socketPath(dir.resolve("state"), CONTAINERD, "k8s.io", "pod3");
        runningPod(bundles, "pod3", socket);
        String[] args = {"-namespace", "k8s.io", "-address", CONTAINERD, "-id", "c3", "start"};

        // the sandbox itself, and a plain task (no CRI annotations)
        assertJvm(start(container(bundles, "c3", "pod3", false), args));
        Path plain = Files.createDirectories(bundles.resolve("plain"));
        Files.writeString(plain.resolve("config.json"), "{\"ociVersion\":\"1.1.0\"}");
        assertJvm(start(plain, args));
        // another namespace or containerd hashes to another socket than the pod's address file names
        Path joining = container(bundles, "c3", "pod3", true);
        assertJvm(start(joining, "-namespace", "other", "-address", CONTAINERD, "-id", "c3", "start"));
        assertJvm(start(joining, "-namespace", "k8s.io", "-address", "/elsewhere.sock", "-id", "c3", "start"));
        // delete, an unknown flag, a missing flag
        assertJvm(start(joining, "-namespace", "k8s.io", "-address", CONTAINERD, "-id", "c3", "delete"));
        assertJvm(start(joining, "-namespace", "k8s.io", "-address", CONTAINERD, "-id", "c3", "-x", "1", "start"));
        assertJvm(start(joining, "-namespace", "k8s.io", "-address", CONTAINERD, "start"));
        assertFalse(Files.exists(joining.resolve("address")));
    }

    @Test
    void aDeadOrForeignShimGoesToTheJvm() throws Exception {
        Path bundles = dir.resolve("task/k8s.io");
        Path socket = ShimAddresses.socketPath(dir.resolve("state"), CONTAINERD, "k8s.io", "pod4");
        Process daemon = runningPod(bundles, "pod4", socket);
        Path joining = container(bundles, "c4", "pod4", true);
        String[] args = {"-namespace", "k8s.io", "-address", CONTAINERD, "-id", "c4", "start"};
        assertEquals("unix://" + socket, start(joining, args).output());

        // shim.pid naming a process that is not this socket's daemon (pid 1)
        Files.writeString(bundles.resolve("pod4/shim.pid"), "1");
        assertJvm(start(joining, args));
        // the daemon gone
        Files.writeString(bundles.resolve("pod4/shim.pid"), Long.toString(daemon.pid()));
        daemon.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
        assertJvm(start(joining, args));
    }

    @Test
    void aMissingSocketGoesToTheJvm() throws Exception {
        Path bundles = dir.resolve("task/k8s.io");
        Path socket = ShimAddresses.socketPath(dir.resolve("state"), CONTAINERD, "k8s.io", "pod5");
        runningPod(bundles, "pod5", socket);
        Files.delete(socket);
        assertJvm(start(container(bundles, "c5", "pod5", true), "-namespace", "k8s.io", "-address", CONTAINERD,
                "-id", "c5", "start"));
    }

    /** containerd reads start's stderr as part of the address: the JVM must not print "Picked up ..." there. */
    @Test
    void theJvmGetsNoOptionsFromContainerdsEnvironment() throws Exception {
        Files.writeString(dir.resolve("jdk/bin/java"), "#!/bin/sh\necho JVM tool=${JAVA_TOOL_OPTIONS-unset} "
                + "jdk=${JDK_JAVA_OPTIONS-unset} other=${_JAVA_OPTIONS-unset} arena=$MALLOC_ARENA_MAX\n");
        Path plain = Files.createDirectories(dir.resolve("task/k8s.io/plain"));
        Files.writeString(plain.resolve("config.json"), "{\"ociVersion\":\"1.1.0\"}");

        var result = start(plain, Map.of("JAVA_TOOL_OPTIONS", "-Xmx1g", "JDK_JAVA_OPTIONS", "-Xss1m",
                "_JAVA_OPTIONS", "-Xms1g"), "-namespace", "k8s.io", "-address", CONTAINERD, "-id", "c6", "start");

        assertEquals(0, result.status(), result.output());
        assertEquals("JVM tool=unset jdk=unset other=unset arena=2", result.output().strip());
    }

    private static void assertJvm(Result result) {
        assertTrue(result.output().startsWith("JVM "), "want the JVM path, got: " + result.output());
    }

    /** A pod's bundle as its sandbox's start leaves it: address, shim.pid, and a daemon listening on the socket. */
    private Process runningPod(Path bundles, String sandbox, Path socket) throws IOException {
        Files.createDirectories(socket.getParent());
        var server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        sockets.add(server);
        // `read` is a shell builtin: the shell itself stays, with a serve daemon's arguments, until stdin closes.
        Process daemon = new ProcessBuilder("sh", "-c", "read x", "java", "-jar", "shim.jar", "-id", sandbox,
                "-socket", socket.toString(), "serve").start();
        daemons.add(daemon);
        Path bundle = container(bundles, sandbox, sandbox, false);
        Files.writeString(bundle.resolve("address"), "unix://" + socket);
        Files.writeString(bundle.resolve("shim.pid"), Long.toString(daemon.pid()));
        return daemon;
    }

    private static Path container(Path bundles, String id, String sandbox, boolean joins) throws IOException {
        Path bundle = Files.createDirectories(bundles.resolve(id));
        // containerd writes the spec with Go's json.Marshal (compact); the launcher also takes white space.
        Files.writeString(bundle.resolve("config.json"), """
                {"ociVersion":"1.1.0","process":{"env":["X=\\"io.kubernetes.cri.sandbox-id\\":\\"evil\\""]},
                 "annotations": {"io.kubernetes.cri.container-type" : "%s",
                   "io.kubernetes.cri.sandbox-id":"%s"}}""".formatted(joins ? "container" : "sandbox", sandbox));
        return bundle;
    }

    private record Result(int status, String output) {
    }

    private Result start(Path bundle, String... args) throws Exception {
        return start(bundle, Map.of(), args);
    }

    private Result start(Path bundle, Map<String, String> env, String... args) throws Exception {
        var cmd = new ArrayList<>(List.of(launcher.toString()));
        cmd.addAll(List.of(args));
        var builder = new ProcessBuilder(cmd).directory(bundle.toFile()).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        builder.environment().putAll(env);
        Process p = builder.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(10, TimeUnit.SECONDS));
        return new Result(p.exitValue(), out);
    }
}
