package io.javakata.shim.cli;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import io.javakata.shim.sandbox.HostProcesses;
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
 * The launcher, src/main/dist/containerd-shim-javakata-v2, with a fake java (by default one that prints an address
 * made of "JVM" and its arguments).
 * <ul>
 * <li>Its JVM-less answer to a joining container's {@code start} (join_pod) against the JVM's own derivation
 * ({@link ShimAddresses}): for the same containerd address, namespace and sandbox id both name the same socket, and
 * anything the shell cannot vouch for goes to the JVM. The pod's shim is a shell whose command line is a shim's
 * ({@code ... -namespace NS -address A -id SANDBOX start}), listening on a real UNIX socket.</li>
 * <li>How it runs start's JVM, which may stay as the pod's shim: the address handed to containerd as soon as the JVM
 * prints it, the JVM in a session of its own with containerd's stdin; an error relayed with its status; a JVM with no
 * address killed at the deadline.</li>
 * </ul>
 */
@Timeout(30)
class LauncherTest {

    private static final Path LAUNCHER = Path.of("src/main/dist/containerd-shim-javakata-v2");
    private static final String CONTAINERD = "/run/containerd/containerd.sock";

    @TempDir
    Path dir;
    private Path launcher;
    private final List<Process> daemons = new ArrayList<>();
    /** Fake JVMs the launcher left running (a pod's shim stays): killed after each test. */
    private final List<ProcessHandle> stayed = new ArrayList<>();
    private final List<ServerSocketChannel> sockets = new ArrayList<>();

    @BeforeEach
    void fakeJava() throws IOException {
        Path javaHome = dir.resolve("jdk");
        Files.createDirectories(javaHome.resolve("bin"));
        Path java = javaHome.resolve("bin/java");
        Files.writeString(java, "#!/bin/sh\necho \"unix://JVM $*\"\n");
        Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));
        launcher = dir.resolve("containerd-shim-javakata-v2");
        Files.writeString(launcher, Files.readString(LAUNCHER).replace("@JAVAKATA_JAVA_HOME@", javaHome.toString()));
        Files.setPosixFilePermissions(launcher, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    @AfterEach
    void stopDaemons() throws IOException {
        daemons.forEach(Process::destroyForcibly);
        stayed.forEach(ProcessHandle::destroyForcibly);
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

    /** The configuration file the sandbox's runtime options named goes with the joining container, for its delete. */
    @Test
    void theSandboxsRecordOfItsConfigurationIsCopied() throws Exception {
        Path bundles = dir.resolve("task/k8s.io");
        Path socket = ShimAddresses.socketPath(dir.resolve("state"), CONTAINERD, "k8s.io", "pod9");
        runningPod(bundles, "pod9", socket);
        String[] args = {"-namespace", "k8s.io", "-address", CONTAINERD, "-id", "c9", "start"};
        Path joining = container(bundles, "c9", "pod9", true);
        Files.writeString(joining.resolve("javakata-config"), "/stale.toml");

        assertEquals("unix://" + socket, start(joining, args).output());
        assertFalse(Files.exists(joining.resolve("javakata-config")), "the sandbox recorded none");

        ShimAddresses.writeConfigRecord(bundles.resolve("pod9"), java.util.Optional.of("/etc/javakata/other.toml"));
        assertEquals("unix://" + socket, start(joining, args).output());
        assertEquals(java.util.Optional.of("/etc/javakata/other.toml"), ShimAddresses.readConfigRecord(joining));
        assertFalse(Files.exists(joining.resolve(".javakata-config")));
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

        // shim.pid naming a process that is not this pod's shim: pid 1, another pod's shim, another namespace's
        Files.writeString(bundles.resolve("pod4/shim.pid"), "1");
        assertJvm(start(joining, args));
        Path otherSocket = ShimAddresses.socketPath(dir.resolve("state"), CONTAINERD, "k8s.io", "pod4b");
        Process other = runningPod(bundles, "pod4b", otherSocket);
        Files.writeString(bundles.resolve("pod4/shim.pid"), Long.toString(other.pid()));
        assertJvm(start(joining, args));
        Path otherNs = ShimAddresses.socketPath(dir.resolve("state"), CONTAINERD, "other", "pod4");
        Process elsewhere = runningPod(dir.resolve("task/other"), "pod4", otherNs);
        Files.writeString(bundles.resolve("pod4/shim.pid"), Long.toString(elsewhere.pid()));
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
        Files.writeString(dir.resolve("jdk/bin/java"), "#!/bin/sh\necho unix://JVM tool=${JAVA_TOOL_OPTIONS-unset} "
                + "jdk=${JDK_JAVA_OPTIONS-unset} other=${_JAVA_OPTIONS-unset} arena=$MALLOC_ARENA_MAX\n");
        Path plain = Files.createDirectories(dir.resolve("task/k8s.io/plain"));
        Files.writeString(plain.resolve("config.json"), "{\"ociVersion\":\"1.1.0\"}");

        var result = start(plain, Map.of("JAVA_TOOL_OPTIONS", "-Xmx1g", "JDK_JAVA_OPTIONS", "-Xss1m",
                "_JAVA_OPTIONS", "-Xms1g"), "-namespace", "k8s.io", "-address", CONTAINERD, "-id", "c6", "start");

        assertEquals(0, result.status(), result.output());
        assertEquals("unix://JVM tool=unset jdk=unset other=unset arena=2", result.output());
    }

    @Test
    void theShimOfAnEarlierReleaseIsJoinedToo() throws Exception {
        // its `serve` daemon: containerd's flags, then the socket it listens on
        Path bundles = dir.resolve("task/k8s.io");
        Path socket = ShimAddresses.socketPath(dir.resolve("state"), CONTAINERD, "k8s.io", "pod7");
        runningPod(bundles, "pod7", socket, "-namespace", "k8s.io", "-address", CONTAINERD, "-id", "pod7", "-bundle",
                bundles.resolve("pod7").toString(), "-socket", socket.toString(), "serve");

        var result = start(container(bundles, "c7", "pod7", true), "-namespace", "k8s.io", "-address", CONTAINERD,
                "-id", "c7", "start");

        assertEquals("unix://" + socket, result.output());
    }

    /**
     * A warm shim that took the sandbox's start over keeps its own command line ({@code warm N DIR}); the start time
     * the shim wrote beside shim.pid says it is the pod's shim. A start time that is not the live pid's (the pid
     * reused by a later process) goes to the JVM, whatever the command line.
     */
    @Test
    void theShimIsKnownByItsStartTimeWhateverItsCommandLine() throws Exception {
        Path bundles = dir.resolve("task/k8s.io");
        Path socket = ShimAddresses.socketPath(dir.resolve("state"), CONTAINERD, "k8s.io", "pod10");
        Process adopted = runningPod(bundles, "pod10", socket, "warm", "1", "/run/javakata-warm/1234");
        Path sandbox = bundles.resolve("pod10");
        Path joining = container(bundles, "c10", "pod10", true);
        String[] args = {"-namespace", "k8s.io", "-address", CONTAINERD, "-id", "c10", "start"};
        assertJvm(start(joining, args));

        long started = HostProcesses.startTime(adopted.pid()).orElseThrow();
        Files.writeString(sandbox.resolve(ShimAddresses.START_FILE), Long.toString(started));
        assertEquals("unix://" + socket, start(joining, args).output());

        // shim.pid naming a process with the sandbox's start on its command line that did not start then (a pid
        // reused), then one that did
        Process sandboxShim = new ProcessBuilder("sh", "-c", "read x", "java", "-jar", "shim.jar", "-namespace",
                "k8s.io", "-address", CONTAINERD, "-id", "pod10", "start").start();
        daemons.add(sandboxShim);
        Files.writeString(sandbox.resolve("shim.pid"), Long.toString(sandboxShim.pid()));
        long sandboxStarted = HostProcesses.startTime(sandboxShim.pid()).orElseThrow();
        Files.writeString(sandbox.resolve(ShimAddresses.START_FILE), Long.toString(sandboxStarted - 1));
        assertJvm(start(joining, args));
        Files.writeString(sandbox.resolve(ShimAddresses.START_FILE), Long.toString(sandboxStarted));
        assertEquals("unix://" + socket, start(joining, args).output());
        Files.writeString(sandbox.resolve(ShimAddresses.START_FILE), "not a number");
        assertJvm(start(joining, args));

        // A shim killed and not yet reaped is a zombie with its start time: not the pod's shim. Its child still runs
        // when sh execs sleep (a `true` could end first, and sh reap it before the exec: no zombie, seen once in CI).
        Process parent = new ProcessBuilder("sh", "-c", "sleep 1 & echo $!; exec sleep 60").start();
        daemons.add(parent);
        String zombie = parent.inputReader(StandardCharsets.US_ASCII).readLine().strip();
        Path stat = Path.of("/proc", zombie, "stat");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!Files.readString(stat).substring(Files.readString(stat).lastIndexOf(')') + 2).startsWith("Z")) {
            assertTrue(System.nanoTime() < deadline, "pid " + zombie + " never became a zombie");
            Thread.sleep(5); // the poll's period; the deadline above bounds the wait
        }
        String fields = Files.readString(stat);
        Files.writeString(sandbox.resolve("shim.pid"), zombie);
        Files.writeString(sandbox.resolve(ShimAddresses.START_FILE),
                fields.substring(fields.lastIndexOf(')') + 2).split(" ")[19]);
        assertJvm(start(joining, args));
    }

    /**
     * A pod's first start: the JVM prints the address once it serves and stays. containerd reads start's output to
     * its end, so the launcher must be gone and nothing that stays may hold that pipe (else this read would not end).
     */
    @Test
    void theAddressIsHandedOverWhileTheShimStaysInASessionOfItsOwn() throws Exception {
        fakeJava("""
                cat > stdin.seen
                echo $$ > jvm.pid
                cut -d' ' -f6 /proc/$$/stat > jvm.sid
                echo "a JVM warning"
                echo unix:///run/javakata/s/pod8
                exec sleep 60 </dev/null >/dev/null 2>&1
                """);
        Path bundle = plainBundle("pod8");

        var result = start(bundle, Map.of(), "runtime options".getBytes(StandardCharsets.UTF_8), "-namespace",
                "k8s.io", "-address", CONTAINERD, "-id", "pod8", "start");

        assertEquals(new Result(0, "unix:///run/javakata/s/pod8"), result);
        long pid = Long.parseLong(Files.readString(bundle.resolve("jvm.pid")).strip());
        var shim = ProcessHandle.of(pid);
        shim.ifPresent(stayed::add);
        assertTrue(shim.map(ProcessHandle::isAlive).orElse(false), "the shim must stay");
        assertEquals(Long.toString(pid), Files.readString(bundle.resolve("jvm.sid")).strip(), "its own session");
        assertEquals("runtime options", Files.readString(bundle.resolve("stdin.seen")));
    }

    @Test
    void startsErrorIsRelayedWithTheJvmsStatus() throws Exception {
        fakeJava("""
                echo "containerd-shim-javakata-v2: container c9: the shim of its sandbox p9 is not running" >&2
                exit 3
                """);
        var result = start(plainBundle("c9"), "-namespace", "k8s.io", "-address", CONTAINERD, "-id", "c9", "start");
        assertEquals(new Result(3, "containerd-shim-javakata-v2: container c9: the shim of its sandbox p9 is not "
                + "running\n"), result);

        // an exit without an address is a failed start too, whatever its status
        fakeJava("printf 'no address'\n");
        assertEquals(new Result(1, "no address"), start(plainBundle("c10"), "-namespace", "k8s.io", "-address",
                CONTAINERD, "-id", "c10", "start"));
    }

    @Test
    void aJvmWithNoAddressByTheDeadlineIsKilled() throws Exception {
        // it got as far as listening: its socket, address and shim.pid must not outlive it
        Path socket = Files.createDirectories(dir.resolve("state/s")).resolve("pod11");
        Files.writeString(socket, "");
        fakeJava("""
                echo $$ > jvm.pid
                echo "loading"
                printf unix://%s "$SOCKET" > address
                echo $$ > shim.pid
                exec sleep 60
                """);
        Path bundle = plainBundle("pod11");

        var result = start(bundle, Map.of("JAVAKATA_START_TIMEOUT", "1", "SOCKET", socket.toString()), "-namespace",
                "k8s.io", "-address", CONTAINERD, "-id", "pod11", "start");

        assertEquals(new Result(1, "loading\ncontainerd-shim-javakata-v2: start: no shim address within 1 s\n"),
                result);
        long pid = Long.parseLong(Files.readString(bundle.resolve("jvm.pid")).strip());
        ProcessHandle.of(pid).ifPresent(stayed::add);
        assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "the JVM must be killed");
        assertFalse(Files.exists(socket), "its socket");
        assertFalse(Files.exists(bundle.resolve("address")));
        assertFalse(Files.exists(bundle.resolve("shim.pid")));
    }

    /**
     * A warm shim started as a pod's shim starts it ({@code launcher warm 1}), a fake java that waits until claimed and
     * keeps the request it got: the launcher's `start` hands containerd's arguments, stdin and environment over and
     * relays the address it answers; the warm shim's directory is named by its pid and holds its FIFOs.
     */
    @Test
    void aStartIsHandedToAWarmShim() throws Exception {
        Path warmRoot = dir.resolve("warm");
        fakeWarmJava("""
                cat "$d/request" > "$d/../request.seen"
                echo "a JVM warning" > "$d/reply"
                echo unix:///run/javakata/s/pod20 > "$d/reply"
                """);
        Map<String, String> env = Map.of("JAVAKATA_WARM_DIR", warmRoot.toString(), "JAVAKATA_SHIM_JAR", jar());
        Path warmDir = startWarm(env);
        Path bundle = plainBundle("pod20");

        var result = start(bundle, env, new byte[] {0, 1, 'o', (byte) 0xff}, "-namespace", "k8s.io", "-address",
                CONTAINERD, "-id", "pod20", "start");

        assertEquals(new Result(0, "unix:///run/javakata/s/pod20"), result);
        var request = WarmShim.Request.parse(Files.readAllBytes(warmRoot.resolve("request.seen")));
        assertEquals(List.of("-namespace", "k8s.io", "-address", CONTAINERD, "-id", "pod20", "start"),
                request.args());
        assertEquals(bundle, request.bundle());
        assertEquals(List.of(0, 1, (int) 'o', 0xff), toList(request.stdin()));
        assertEquals(warmRoot.toString(), request.env().get("JAVAKATA_WARM_DIR"));
        var sinceLaunch = java.time.Duration.between(request.launched(), java.time.Instant.now());
        assertTrue(!sinceLaunch.isNegative() && sinceLaunch.toSeconds() < 30, "launched " + request.launched());
        assertTrue(Files.exists(warmDir.resolve("claimed")), "claimed by renaming ready");
    }

    /**
     * A claimed warm shim that does not answer within JAVAKATA_WARM_TIMEOUT is killed, its directory removed, and
     * start's own JVM runs with containerd's stdin as it was; a warm shim of another install (its ready names another
     * jar) is killed and removed without being claimed; a warm directory whose process is gone is removed.
     */
    @Test
    void warmShimsThatCannotServeAreSweptAndStartsOwnJvmRuns() throws Exception {
        Path warmRoot = dir.resolve("warm");
        fakeWarmJava("""
                [ -e "$d/../stale" ] && echo "another install" > "$d/ready"
                mkfifo "$d/hold"
                read x < "$d/hold"
                """);
        Map<String, String> env = Map.of("JAVAKATA_WARM_DIR", warmRoot.toString(), "JAVAKATA_SHIM_JAR", jar(),
                "JAVAKATA_WARM_TIMEOUT", "1");
        Path silent = startWarm(env);
        long silentPid = Long.parseLong(silent.getFileName().toString());
        ProcessHandle.of(silentPid).ifPresent(stayed::add);
        Path gone = Files.createDirectories(warmRoot.resolve(Long.toString(finishedPid())));
        Files.writeString(gone.resolve("ready"), "x");

        var result = start(plainBundle("pod21"), env, "options".getBytes(StandardCharsets.UTF_8), "-namespace",
                "k8s.io", "-address", CONTAINERD, "-id", "pod21", "start");

        assertJvm(result);
        assertEquals(0, result.status());
        assertEquals("options", Files.readString(dir.resolve("task/k8s.io/pod21/stdin.seen")));
        assertFalse(ProcessHandle.of(silentPid).map(ProcessHandle::isAlive).orElse(false), "killed");
        assertFalse(Files.exists(silent), "its directory removed");
        assertFalse(Files.exists(gone), "a directory whose process is gone is removed");

        Files.writeString(warmRoot.resolve("stale"), "");
        Path stale = startWarm(env);
        long stalePid = Long.parseLong(stale.getFileName().toString());
        ProcessHandle.of(stalePid).ifPresent(stayed::add);
        result = start(plainBundle("pod22"), env, new byte[0], "-namespace", "k8s.io", "-address", CONTAINERD,
                "-id", "pod22", "start");
        assertJvm(result);
        assertFalse(ProcessHandle.of(stalePid).map(ProcessHandle::isAlive).orElse(false), "another install's: killed");
        assertFalse(Files.exists(stale));
    }

    /**
     * A warm shim that declines (the pod's configuration has no warm shims) stays, ready for the next start, and
     * start's own JVM runs with containerd's stdin as it was.
     */
    @Test
    void aWarmShimThatDeclinesStaysAndStartsOwnJvmRuns() throws Exception {
        Path warmRoot = dir.resolve("warm");
        fakeWarmJava("""
                id=$(cat "$d/ready")
                cat "$d/request" > /dev/null
                echo javakata-warm-decline > "$d/reply"
                rm "$d/claimed"
                echo -n "$id" > "$d/ready"
                mkfifo "$d/hold"
                read x < "$d/hold"
                """);
        Map<String, String> env = Map.of("JAVAKATA_WARM_DIR", warmRoot.toString(), "JAVAKATA_SHIM_JAR", jar());
        Path warm = startWarm(env);
        long pid = Long.parseLong(warm.getFileName().toString());
        ProcessHandle.of(pid).ifPresent(stayed::add);

        var result = start(plainBundle("pod23"), env, "options".getBytes(StandardCharsets.UTF_8), "-namespace",
                "k8s.io", "-address", CONTAINERD, "-id", "pod23", "start");

        assertJvm(result);
        assertEquals("options", Files.readString(dir.resolve("task/k8s.io/pod23/stdin.seen")));
        assertTrue(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "the warm shim stays");
        awaitFile(warm.resolve("ready"), () -> true, "ready again");
    }

    /** A warm shim's failed start: its error lines relayed with its status, as start's own JVM's would be. */
    @Test
    void aWarmShimsErrorIsRelayedWithItsStatus() throws Exception {
        Path warmRoot = dir.resolve("warm");
        fakeWarmJava("""
                cat "$d/request" > /dev/null
                printf 'containerd-shim-javakata-v2: bad configuration\njavakata-warm-exit 3\n' > "$d/reply"
                """);
        Map<String, String> env = Map.of("JAVAKATA_WARM_DIR", warmRoot.toString(), "JAVAKATA_SHIM_JAR", jar());
        startWarm(env);

        var result = start(plainBundle("pod24"), env, new byte[0], "-namespace", "k8s.io", "-address", CONTAINERD,
                "-id", "pod24", "start");

        assertEquals(new Result(3, "containerd-shim-javakata-v2: bad configuration\n"), result);
    }

    /** The launcher's `warm 1` run as a pod's shim runs it; returns the warm shim's directory once it is ready. */
    private Path startWarm(Map<String, String> env) throws Exception {
        var builder = new ProcessBuilder(launcher.toString(), "warm", "1").directory(new java.io.File("/"))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectErrorStream(true);
        builder.environment().putAll(env);
        Process warm = builder.start();
        daemons.add(warm);
        Path warmDir = Path.of(env.get("JAVAKATA_WARM_DIR")).resolve(Long.toString(warm.pid()));
        awaitFile(warmDir.resolve("ready"), warm::isAlive, "the warm shim never got ready");
        assertTrue(Files.exists(warmDir.resolve("request")) && Files.exists(warmDir.resolve("reply")));
        return warmDir;
    }

    /** Waits (10 s at most) until {@code file} exists, failing with {@code what} if {@code alive} stops holding. */
    private static void awaitFile(Path file, java.util.function.BooleanSupplier alive, String what) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!Files.exists(file)) {
            assertTrue(alive.getAsBoolean() && System.nanoTime() < deadline, what);
            Thread.sleep(5); // the poll's period; the deadline above bounds the wait
        }
    }

    /**
     * A fake java that, run as a warm shim ({@code ... warm N DIR}), renames DIR's {@code id} to {@code ready}, with
     * {@code $d} naming DIR, and then runs {@code whenReady}; run as start's own JVM, it keeps its stdin in
     * {@code stdin.seen} and prints an address made of "JVM" and its arguments.
     */
    private void fakeWarmJava(String whenReady) throws IOException {
        fakeJava("""
                d="${@: -1}"
                if [ "${*: -3:1}" != warm ]; then cat > stdin.seen; echo "unix://JVM $*"; exit 0; fi
                mv "$d/id" "$d/ready"
                """ + whenReady);
    }

    /** A stand-in for the shim's jar, whose identity the launcher records for its warm shims. */
    private String jar() throws IOException {
        Path jar = dir.resolve("javakata-shim.jar");
        if (!Files.exists(jar)) {
            Files.writeString(jar, "jar");
        }
        return jar.toString();
    }

    /** The pid of a process that has exited and been reaped. */
    private static long finishedPid() throws Exception {
        Process p = new ProcessBuilder("true").start();
        assertTrue(p.waitFor(10, TimeUnit.SECONDS));
        return p.pid();
    }

    private static List<Integer> toList(byte[] bytes) {
        var list = new ArrayList<Integer>();
        for (byte b : bytes) {
            list.add(b & 0xff);
        }
        return list;
    }

    private void fakeJava(String body) throws IOException {
        Files.writeString(dir.resolve("jdk/bin/java"), "#!/bin/bash\n" + body);
    }

    private Path plainBundle(String id) throws IOException {
        Path bundle = Files.createDirectories(dir.resolve("task/k8s.io").resolve(id));
        Files.writeString(bundle.resolve("config.json"), "{\"ociVersion\":\"1.1.0\"}");
        return bundle;
    }

    private static void assertJvm(Result result) {
        assertTrue(result.output().startsWith("unix://JVM "), "want the JVM path, got: " + result.output());
    }

    /**
     * A pod's bundle as its sandbox's start leaves it: address, shim.pid, and its shim listening on the socket, with
     * the command line of the sandbox's start (bundles are {@code .../<namespace>/<id>}).
     */
    private Process runningPod(Path bundles, String sandbox, Path socket) throws IOException {
        return runningPod(bundles, sandbox, socket, "-namespace", bundles.getFileName().toString(), "-address",
                CONTAINERD, "-id", sandbox, "start");
    }

    private Process runningPod(Path bundles, String sandbox, Path socket, String... shimArgs) throws IOException {
        Files.createDirectories(socket.getParent());
        var server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        sockets.add(server);
        // `read` is a shell builtin: the shell itself stays, with a shim's arguments, until stdin closes.
        var cmd = new ArrayList<>(List.of("sh", "-c", "read x", "java", "-jar", "shim.jar"));
        cmd.addAll(List.of(shimArgs));
        Process daemon = new ProcessBuilder(cmd).start();
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
        return start(bundle, env, null, args);
    }

    /** The launcher as containerd runs start: stdin the runtime options (null: /dev/null), output read to its end. */
    private Result start(Path bundle, Map<String, String> env, byte[] stdin, String... args) throws Exception {
        var cmd = new ArrayList<>(List.of(launcher.toString()));
        cmd.addAll(List.of(args));
        var builder = new ProcessBuilder(cmd).directory(bundle.toFile()).redirectErrorStream(true);
        if (stdin == null) {
            builder.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        }
        builder.environment().putAll(env);
        Process p = builder.start();
        if (stdin != null) {
            try (var in = p.getOutputStream()) {
                in.write(stdin);
            }
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(10, TimeUnit.SECONDS));
        return new Result(p.exitValue(), out);
    }
}
