package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.javakata.it.cri.v1.ContainerState;

/**
 * Issue 13: the operator's tools, run as installed ({@code containerd-shim-javakata-v2} on the PATH, the binary
 * containerd runs) on this machine, next to one running pod that every test shares: {@code check} and {@code env},
 * the pod's boot timeline in the shim log, {@code metrics} scraping it and {@code diagnose} bundling it.
 */
@Tag("containerd")
@Tag("qemu")
@Tag("cri")
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class OperationsIT {

    @RegisterExtension
    static final PrivateCri CRI = new PrivateCri();

    private static final String SHIM = "containerd-shim-javakata-v2";
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final Duration WAIT = Duration.ofSeconds(90);

    private static Pod pod;
    private static String app;

    @BeforeAll
    static void runPod() throws Exception {
        pod = CRI.runPod("ops-it");
        // 6 MB in the pod's /dev/shm are charged to the app's cgroup in the guest.
        app = pod.run("app", "sh", "-c", "head -c 6000000 /dev/zero > /dev/shm/fill; echo ready; sleep 3600");
        pod.awaitLog("app", l -> l.endsWith(" stdout F ready"), WAIT);
    }

    @AfterAll
    static void teardown() {
        if (pod != null) {
            pod.close();
        }
    }

    @TempDir
    Path tmp;

    private static Ctr.Result shim(String... args) {
        List<String> command = new ArrayList<>(List.of(SHIM));
        command.addAll(List.of(args));
        return Ctr.execute(command, null, TIMEOUT);
    }

    /** {@code check}'s lines by requirement: {verdict, detail}. */
    private static Map<String, String[]> findings(String stdout) {
        Map<String, String[]> findings = new LinkedHashMap<>();
        for (String line : stdout.strip().split("\n")) {
            String[] parts = line.split("\\s+", 3);
            if (parts.length == 3 && List.of("ok", "fallback", "warn", "FAIL").contains(parts[0])) {
                findings.put(parts[1], new String[] {parts[0], parts[2]});
            }
        }
        return findings;
    }

    @Test
    void checkSaysThisHostRunsPodsAndWithWhichFallbacks() {
        var result = shim("check", "--containerd-config", CRI.containerd().dir().resolve("config.toml").toString());
        assertEquals(0, result.exitCode(), result.describe());
        Map<String, String[]> findings = findings(result.stdout());
        assertEquals(List.of("configuration", "qemu", "kvm", "virtiofsd", "vhost-vsock", "vmms", "transports", "tun",
                "cgroup", "capabilities", "qemu-user", "containerd-config", "guest-assets"),
                List.copyOf(findings.keySet()), result.describe());
        assertFinding(findings, "vmms", "ok", "qemu: usable; cloud-hypervisor: ");
        assertFinding(findings, "transports", "ok", "serial: usable; vsock: ");
        assertFinding(findings, "qemu", "ok", "QEMU emulator version ");
        assertFinding(findings, "virtiofsd", "ok", "virtiofsd version ");
        assertFinding(findings, "tun", "ok", "/dev/net/tun");
        // The private containerd sets restrict_oom_score_adj, which covers a root without cap_sys_resource.
        assertFinding(findings, "capabilities", "ok", "uid 0");
        assertFinding(findings, "containerd-config", "ok", "CRI handler javakata");
        // make install puts the manifest beside the kernel and initrd it installs, from the same build as the shim.
        assertFinding(findings, "guest-assets", "ok", "match this shim");
        if (PrivateContainerd.TRANSPORT.equals("hybrid-vsock")) {
            // The handler's configuration sets hybrid vsock, which needs no /dev/vhost-vsock.
            assertFinding(findings, "vhost-vsock", "ok", "the hybrid vsock transport does not need it");
            assertFinding(findings, "transports", "ok", "hybrid-vsock: usable");
        } else if (Files.exists(Path.of("/dev/vhost-vsock"))) {
            assertTrue(List.of("ok", "FAIL").contains(findings.get("vhost-vsock")[0]), result.describe());
        } else {
            assertFinding(findings, "vhost-vsock", "fallback", "no /dev/vhost-vsock; fallback: the agent is reached "
                    + "over virtio-serial");
        }
        if (!Files.exists(Path.of("/dev/kvm"))) {
            assertFinding(findings, "kvm", "fallback", "no /dev/kvm");
        }
        String last = result.stdout().strip().lines().reduce((a, b) -> b).orElse("");
        assertTrue(last.startsWith("ok: this host can run javakata pods"), result.describe());
    }

    @Test
    void checkFailsWhenContainerdHasNoJavakataRuntime() throws Exception {
        Path config = Files.writeString(tmp.resolve("config.toml"), "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n"
                + "  sandbox_image = \"localhost/javakata/pause:1\"\n");
        var result = shim("check", "--containerd-config", config.toString());
        assertEquals(1, result.exitCode(), result.describe());
        assertFinding(findings(result.stdout()), "containerd-config", "FAIL", config + " has no runtime with "
                + "runtime_type = \"io.containerd.javakata.v2\"");
        assertTrue(result.stdout().strip().endsWith("FAIL: this host cannot run javakata pods: containerd-config"),
                result.describe());
    }

    @Test
    void envPrintsTheEffectiveConfigurationAndVersionsAsJson() throws Exception {
        var result = shim("env", "--containerd-config", CRI.containerd().dir().resolve("config.toml").toString());
        assertEquals(0, result.exitCode(), result.describe());
        JsonNode env = new ObjectMapper().readTree(result.stdout());
        // With an IT transport, scripts/containerd.sh gives the javakata handler a configuration of its own.
        String configFile = PrivateContainerd.TRANSPORT.isBlank()
                ? System.getenv().getOrDefault("JAVAKATA_CONFIG", "/etc/javakata/configuration.toml")
                : CRI.containerd().dir().resolve("javakata.toml").toString();
        assertEquals(configFile, env.at("/configuration_file/path").asText(), result.stdout());
        assertTrue(env.at("/configuration_file/loaded").asBoolean(), result.stdout());
        // The state directory the shims of this run use: every key is there, defaults included.
        assertEquals(PrivateContainerd.STATE.toString(), env.at("/configuration/runtime/state_dir").asText());
        assertTrue(env.at("/configuration/hypervisor/memory_mib").asInt() >= 64, result.stdout());
        assertEquals("io.containerd.javakata.v2", env.at("/shim/runtime_type").asText());
        assertTrue(env.at("/host/qemu").asText().startsWith("QEMU emulator version "), result.stdout());
        assertTrue(env.at("/host/virtiofsd").asText().startsWith("virtiofsd version "), result.stdout());
        assertTrue(List.of("kvm", "tcg").contains(env.at("/host/accelerator").asText()), result.stdout());
        assertEquals("javakata", env.at("/containerd/javakata_handlers/0").asText());
        assertEquals(env.at("/shim/agent_protocol_sha256").asText(), env.at("/guest/agent_protocol_sha256").asText(),
                result.stdout());
    }

    @Test
    void theShimLogsEachBootPhaseOfThePodOnce() throws Exception {
        // msg="boot phase=agent_ready elapsed_ms=8123 sandbox=<id>[ container=<id>][ name=<CRI name>][ clock=guest]"
        Pattern phase = Pattern.compile("msg=\"boot phase=(\\w+) elapsed_ms=(\\d+) sandbox=" + pod.id()
                + "(?: container=(\\S+))?(?: name=(\\S+))?(?: clock=guest)?\"");
        Map<String, Long> elapsed = new LinkedHashMap<>();
        // containerd copies the shim's log FIFO into its log asynchronously.
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (true) {
            elapsed.clear();
            for (String line : Files.readAllLines(CRI.containerd().log())) {
                Matcher m = phase.matcher(line);
                if (m.find()) {
                    String key = m.group(1) + (m.group(3) == null ? "" : ":" + m.group(3));
                    assertEquals(null, elapsed.put(key, Long.parseLong(m.group(2))), "logged twice: " + line);
                }
            }
            if (elapsed.containsKey("container_started:" + app) || System.nanoTime() > deadline) {
                break;
            }
            Thread.sleep(100);
        }
        // A VM restored from a template did not boot: its kernel, init and agent started in the template's boot, and
        // its console prints, if at all, after the agent answered (kernel_up is the console's first output before it).
        boolean restored = CRI.containerd().restored(pod.id());
        List<String> boot = new ArrayList<>(List.of("create_requested", "vmm_spawned"));
        if (!restored || elapsed.containsKey("kernel_up")) {
            boot.add("kernel_up");
        }
        if (!restored) {
            boot.addAll(List.of("init_started", "agent_started"));
        }
        boot.addAll(List.of("agent_answered", "agent_ready",
                "container_created:" + pod.id(), "container_started:" + pod.id(), "container_created:" + app,
                "container_started:" + app));
        assertTrue(elapsed.keySet().containsAll(boot), () -> "phases logged: " + elapsed);
        for (int i = 1; i < boot.size(); i++) {
            assertTrue(elapsed.get(boot.get(i - 1)) <= elapsed.get(boot.get(i)), "out of order: " + elapsed);
        }
        // The same phases, with the pod's CRI names, in timeline.json (what diagnose and the metrics read).
        JsonNode timeline = new ObjectMapper().readTree(CRI.containerd().sandboxDir(pod.id())
                .resolve("timeline.json").toFile());
        assertEquals("ops-it", timeline.at("/pod/pod_name").asText(), timeline.toString());
        assertEquals("jkit", timeline.at("/pod/pod_namespace").asText(), timeline.toString());
        List<String> saved = new ArrayList<>();
        timeline.path("phases").forEach(p -> saved.add(p.path("phase").asText()
                + (p.has("container") ? ":" + p.path("container").asText() : "")));
        assertTrue(saved.containsAll(boot), saved::toString);
    }

    @Test
    void metricsScrapesThePodThroughItsSocketWithItsNames() throws Exception {
        var result = shim("metrics");
        assertEquals(0, result.exitCode(), result.describe());
        String pod = "sandbox_id=\"" + OperationsIT.pod.id() + "\",pod_name=\"ops-it\",pod_namespace=\"jkit\"";
        Map<String, Double> samples = new LinkedHashMap<>();
        for (String line : result.stdout().split("\n")) {
            if (!line.startsWith("#") && line.contains(pod)) {
                int space = line.lastIndexOf(' ');
                samples.put(line.substring(0, space).replace(pod + ",", "").replace("{" + pod + "}", ""),
                        Double.parseDouble(line.substring(space + 1)));
            }
        }
        assertEquals(1.0, result.stdout().lines().filter(l -> l.startsWith("javakata_pod_scrape_up{sandbox_dir=\""
                + CRI.containerd().sandboxDir(OperationsIT.pod.id()) + "\"}")).map(l -> l.substring(l.lastIndexOf(' ') + 1))
                .mapToDouble(Double::parseDouble).sum(), result.stdout());
        String info = "javakata_pod_info{sandbox_id=\"" + OperationsIT.pod.id() + "\",namespace=\"k8s.io\","
                + "pod_name=\"ops-it\",pod_namespace=\"jkit\",pod_uid=\"" + OperationsIT.pod.config().getMetadata().getUid()
                + "\"} 1";
        assertTrue(result.stdout().lines().anyMatch(info::equals), result.stdout());
        double ready = sample(samples, "javakata_boot_phase_seconds{phase=\"agent_ready\"}");
        double spawned = sample(samples, "javakata_boot_phase_seconds{phase=\"vmm_spawned\"}");
        assertTrue(spawned > 0 && ready > spawned, () -> samples.toString());
        assertEquals(0.0, sample(samples, "javakata_container_restarts_total{name=\"app\"}"));
        // The pause container and the app were created through the agent; the watchdog checks it.
        assertTrue(sample(samples, "javakata_agent_request_duration_seconds_count{method=\"CreateContainer\"}") >= 2);
        assertTrue(sample(samples, "javakata_agent_request_duration_seconds_count{method=\"Check\"}") >= 1);
        assertTrue(sample(samples, "javakata_host_process_resident_bytes{process=\"vmm\"}") > 50 << 20,
                () -> samples.toString());
        assertTrue(sample(samples, "javakata_host_process_cpu_seconds_total{process=\"vmm\"}") > 1,
                () -> samples.toString());
        assertTrue(sample(samples, "javakata_host_process_resident_bytes{process=\"virtiofsd\"}") > 0);
        assertTrue(sample(samples, "javakata_host_process_resident_bytes{process=\"shim\"}") > 20 << 20);
        assertTrue(sample(samples, "javakata_vm_vcpus") >= 1);
        assertTrue(sample(samples, "javakata_vm_memory_bytes") >= 64 << 20);
        // The guest kernel's own view, through the agent's GuestStats.
        double total = sample(samples, "javakata_guest_memory_bytes{kind=\"total\"}");
        assertTrue(total > 300 << 20 && total <= sample(samples, "javakata_vm_memory_bytes"), () -> samples.toString());
        double available = sample(samples, "javakata_guest_memory_bytes{kind=\"available\"}");
        assertTrue(available > 0 && available < total, () -> samples.toString());
        assertTrue(sample(samples, "javakata_guest_memory_bytes{kind=\"shmem\"}") > 6e6, () -> samples.toString());
        assertTrue(sample(samples, "javakata_guest_load_average{period=\"1m\"}") >= 0);
        assertTrue(sample(samples, "javakata_guest_uptime_seconds") > 1);
        double appMemory = sample(samples, "javakata_guest_container_memory_bytes{container=\"" + app
                + "\",name=\"app\"}");
        assertTrue(appMemory > 6e6 && appMemory < sample(samples, "javakata_vm_memory_bytes"), () -> samples.toString());
        assertTrue(sample(samples, "javakata_guest_container_cpu_seconds_total{container=\"" + app
                + "\",name=\"app\"}") > 0, () -> samples.toString());
    }

    @Test
    void diagnoseWritesOneArchiveAboutThePod() throws Exception {
        Path archive = tmp.resolve("ops-it.tar.gz");
        var result = shim("diagnose", "jkit/ops-it", "--output", archive.toString());
        assertEquals(0, result.exitCode(), result.describe());
        assertTrue(result.stdout().startsWith("wrote " + archive + " about jkit/ops-it (sandbox " + pod.id() + ", "),
                result.describe());
        Ctr.execute(List.of("tar", "-xzf", archive.toString(), "-C", tmp.toString()), null, TIMEOUT).assertOk();
        Path dir;
        try (var dirs = Files.list(tmp)) {
            dir = dirs.filter(d -> d.getFileName().toString().startsWith("javakata-diagnose-ops-it-")).findFirst()
                    .orElseThrow(() -> new AssertionError("no javakata-diagnose-ops-it-* in " + archive));
        }
        // Everything was there to gather from a running pod.
        String summary = Files.readString(dir.resolve("summary.txt"));
        assertTrue(!summary.contains("not gathered"), summary);
        JsonNode env = new ObjectMapper().readTree(dir.resolve("env.json").toFile());
        assertEquals(PrivateContainerd.STATE.toString(), env.at("/configuration/runtime/state_dir").asText());
        assertTrue(Files.readString(dir.resolve("check.txt")).contains("ok: this host can run javakata pods")
                || Files.readString(dir.resolve("check.txt")).contains("FAIL: "), summary);
        assertTrue(Files.readString(dir.resolve("timeline.txt")).contains("agent_ready"), summary);
        assertTrue(Files.readString(dir.resolve("timeline.json")).contains("\"pod_name\" : \"ops-it\""));
        // The guest console, the agent's log lines included, across both files of its ring.
        Path older = dir.resolve("console.log.1");
        String console = (Files.exists(older) ? Files.readString(older) : "") + Files.readString(dir.resolve("console.log"));
        // A booted guest's console has the kernel's banner and the agent's start; a restored one's begins after both,
        // with the kernel's lines about the pod's hot-plugged devices and the agent mounting the pod's share.
        assertTrue(CRI.containerd().restored(pod.id())
                ? console.contains("virtiofs") && console.contains("msg=\"share mounted\"")
                : console.contains("Linux version") && console.contains("msg=\"agent ready\""), console);
        assertTrue(Files.exists(dir.resolve("qemu.log")) && Files.exists(dir.resolve("virtiofsd.log")), summary);
        List<String> argv = Files.readAllLines(dir.resolve("qemu-cmdline.txt"));
        assertTrue(argv.getFirst().endsWith("qemu-system-x86_64") && argv.contains("-sandbox"), argv::toString);
        String processes = Files.readString(dir.resolve("processes.txt"));
        for (String part : List.of("shim pid ", "vmm pid ", "virtiofsd pid ", "Seccomp:", "cgroup ", "child pid ")) {
            assertTrue(processes.contains(part), () -> part + " not in\n" + processes);
        }
        assertTrue(Files.readString(dir.resolve("metrics.txt")).contains("javakata_pod_info{sandbox_id=\"" + pod.id()),
                summary);
    }

    @Test
    void theDebugConsoleIsOffUnlessTheConfigurationTurnsItOn() {
        var result = shim("console", "jkit/ops-it");
        assertEquals(1, result.exitCode(), result.describe());
        assertTrue(result.stderr().contains("pod jkit/ops-it (sandbox " + pod.id() + ", ")
                && result.stderr().contains("has no debug console: its runtime configuration has [agent] "
                + "debug_console = false"), result.describe());
    }

    @Test
    void theDebugConsoleIsAShellInTheGuestOutsideEveryContainer() throws Exception {
        // The javakata-debug handler's configuration turns the console on (scripts/containerd.sh).
        try (Pod debug = CRI.runPod(CRI.podConfig("ops-debug", b -> b), "javakata-debug")) {
            String sleeper = debug.run("sleeper", "sleep", "3600");
            // Piped input: the script runs in the guest's shell, whose status is the command's.
            var result = Ctr.execute(List.of(SHIM, "console", "ops-debug"), """
                    echo marker-$((6*7)); cat /proc/1/comm; ls /run/javakata/shared
                    exit 3
                    """, TIMEOUT);
            System.out.println("console transcript (exit " + result.exitCode() + "):\n" + result.stderr()
                    + result.stdout());
            assertEquals(3, result.exitCode(), result.describe());
            assertTrue(result.stdout().contains("marker-42"), result.describe());
            // PID 1 is the agent (a JVM), not the container's init; the pod's share lists the container.
            assertTrue(result.stdout().contains("\njava\r\n"), result.describe());
            assertTrue(result.stdout().contains(sleeper), result.describe());
            // The session is over and the pod is unharmed: its container still runs.
            assertEquals(ContainerState.CONTAINER_RUNNING, debug.containerStatus(sleeper).getState());
        }
    }

    private static double sample(Map<String, Double> samples, String key) {
        Double value = samples.get(key);
        assertTrue(value != null, () -> "no sample " + key + " in " + samples.keySet());
        return value;
    }

    private static void assertFinding(Map<String, String[]> findings, String requirement, String verdict,
                                      String detailPart) {
        String[] finding = findings.get(requirement);
        assertTrue(finding != null, () -> "no line for " + requirement + " in " + findings.keySet());
        assertEquals(verdict, finding[0], () -> requirement + ": " + finding[1]);
        assertTrue(finding[1].contains(detailPart), () -> requirement + ": " + finding[1]);
    }
}
