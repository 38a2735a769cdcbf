package io.javakata.shim.diagnose;

import io.javakata.shim.hostcheck.EffectiveSetup;
import io.javakata.shim.sandbox.PodResource;
import io.javakata.shim.sandbox.SandboxState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(30)
class DiagnoseBundleTest {

    static final Instant NOW = Instant.parse("2026-11-29T02:03:04Z");

    @TempDir
    Path root;

    private Path proc;

    /** A fake /proc entry: stat with start time (field 22), status, cgroup, cmdline. */
    private void process(long pid, String comm, long startTime, String... argv) throws Exception {
        Path dir = Files.createDirectories(proc.resolve(Long.toString(pid)));
        Files.writeString(dir.resolve("stat"), pid + " (" + comm + ") S 1 1 1 0 -1 0 0 0 0 0 5 5 0 0 20 0 1 0 "
                + startTime + " 0 0\n");
        Files.writeString(dir.resolve("status"), "Name:\t" + comm + "\nUmask:\t0022\nUid:\t999\t999\t999\t999\n"
                + "VmRSS:\t  1000 kB\nCapEff:\t0000000000000000\nSeccomp:\t2\n");
        Files.writeString(dir.resolve("cgroup"), "0::/jkit/pod1\n");
        Files.writeString(dir.resolve("cmdline"), String.join("\u0000", argv) + "\u0000");
    }

    private DiagnoseBundle bundle(Path state) {
        EffectiveSetup setup = EffectiveSetup.resolve(Optional.of(root.resolve("none.toml")),
                Optional.of(root.resolve("none-containerd.toml")), Map.of());
        return new DiagnoseBundle(setup, () -> "{\"shim\": {}}\n", () -> "ok: this host can run javakata pods\n", proc,
                Clock.fixed(NOW, ZoneOffset.UTC));
    }

    @Test
    void bundlesTheConfigurationTimelineConsoleLogsCommandLineAndProcesses() throws Exception {
        proc = Files.createDirectories(root.resolve("proc"));
        Path state = root.resolve("state");
        Path dir = PodLookupTest.pod(state, "k1", "3f2a9c0011", "shop", "web-0");
        Files.writeString(dir.resolve("timeline.json"), """
                {"pod": {"sandbox_id": "3f2a9c0011", "namespace": "k8s.io", "pod_name": "web-0", "pod_namespace": "shop",
                 "pod_uid": "u"}, "origin": "2026-11-29T01:00:00Z",
                 "phases": [{"phase": "vmm_spawned", "elapsed_ms": 900},
                            {"phase": "agent_ready", "elapsed_ms": 8000},
                            {"phase": "container_started", "container": "c1", "name": "app", "elapsed_ms": 9500}]}
                """);
        Files.writeString(dir.resolve("console.log.1"), "[    0.000000] Linux version 6.1.0\n");
        Files.writeString(dir.resolve("console.log"), "msg=\"agent ready\"\n");
        Files.writeString(dir.resolve("qemu.log"), "");
        process(4001, "qemu-system-x86", 777, "/usr/bin/qemu-system-x86_64", "-m", "512M", "-runas", "javakata-qemu");
        process(4002, "virtiofsd", 778, "/usr/lib/qemu/virtiofsd", "--socket-path=/run/x");
        process(4000, "java", 700, "java", "-jar", "javakata-shim.jar", "serve");
        new SandboxState("3f2a9c0011", "k8s.io", 4000, 700, dir.toString(), List.of(new PodResource.StateDir(),
                new PodResource.Vm(List.of(new PodResource.HostProcess("vmm", 4001, 777),
                        new PodResource.HostProcess("virtiofsd", 4002, 999)))))
                .write(dir.resolve("sandbox.json"));

        var result = bundle(state).write(state, "shop/web-0", Optional.empty(), root);

        Path expected = root.resolve("javakata-diagnose-web-0-20261129T020304Z.tar.gz");
        assertEquals(expected, result.archive());
        Map<String, String> files = TarReader.read(expected);
        String top = "javakata-diagnose-web-0-20261129T020304Z/";
        assertEquals(List.of("summary.txt", "env.json", "check.txt", "timeline.json", "sandbox.json", "console.log.1",
                "console.log", "qemu.log", "timeline.txt", "qemu-cmdline.txt", "processes.txt"),
                files.keySet().stream().map(n -> n.substring(top.length())).toList());
        assertEquals("/usr/bin/qemu-system-x86_64\n-m\n512M\n-runas\njavakata-qemu\n", files.get(top
                + "qemu-cmdline.txt"));
        String processes = files.get(top + "processes.txt");
        assertTrue(processes.startsWith("shim pid 4000\n  Name: java\n"), processes);
        assertTrue(processes.contains("vmm pid 4001\n  Name: qemu-system-x86\n  Uid: 999 999 999 999\n"), processes);
        assertTrue(processes.contains("  Seccomp: 2\n  cgroup 0::/jkit/pod1\n  cmdline /usr/bin/qemu-system-x86_64 -m "
                + "512M -runas javakata-qemu\n"), processes);
        assertTrue(processes.contains("virtiofsd pid 4002 (gone)\n"), "the start time differs: " + processes);
        assertTrue(files.get(top + "timeline.txt").contains("     8000 ms     +7100 ms  agent_ready"),
                files.get(top + "timeline.txt"));
        assertTrue(files.get(top + "timeline.txt").contains("container_started  c1 (app)"),
                files.get(top + "timeline.txt"));
        String summary = files.get(top + "summary.txt");
        assertTrue(summary.startsWith("javakata diagnose of shop/web-0 (sandbox 3f2a9c0011, " + dir + ")\n"), summary);
        assertTrue(summary.contains("not gathered:\n  virtiofsd.log: not in " + dir + "\n"), summary);
        assertTrue(summary.contains("  metrics.txt: "), summary);
        assertTrue(result.missing().stream().anyMatch(m -> m.startsWith("metrics.txt: ")), result.missing()::toString);
    }

    @Test
    void aPodWhoseQemuIsGoneStillGetsItsFiles() throws Exception {
        proc = Files.createDirectories(root.resolve("proc"));
        Path state = root.resolve("state");
        Path dir = PodLookupTest.pod(state, "k1", "abcdef0011", "", "");
        new SandboxState("abcdef0011", "default", 4000, 700, dir.toString(), List.of(new PodResource.Vm(List.of(
                new PodResource.HostProcess("vmm", 4001, 777))))).write(dir.resolve("sandbox.json"));
        Path out = root.resolve("out.tar.gz");
        var result = bundle(state).write(state, "abcdef", Optional.of(out), root);
        assertEquals(out, result.archive());
        assertTrue(result.missing().contains("qemu-cmdline.txt: QEMU pid 4001 is not running"), result.missing()
                ::toString);
        // No console.log.1 is normal (the console has not rotated); a missing console.log is not.
        assertTrue(result.missing().contains("console.log: not in " + dir), result.missing()::toString);
        assertTrue(result.missing().stream().noneMatch(m -> m.startsWith("console.log.1")), result.missing()::toString);
        assertTrue(TarReader.read(out).keySet().stream().anyMatch(n -> n.startsWith("javakata-diagnose-abcdef0011-")
                && n.endsWith("/processes.txt")));
    }
}
