package io.javakata.shim.sandbox;

import io.javakata.hypervisor.Hypervisor;
import io.javakata.shim.log.ShimLogging;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(20)
class BootTimelineTest {

    static final Instant ORIGIN = Instant.parse("2026-11-29T01:00:00Z");
    static final BootTimeline.Identity POD = BootTimeline.Identity.of("sb1", "k8s.io", Map.of(
            "io.kubernetes.cri.sandbox-name", "web-0", "io.kubernetes.cri.sandbox-namespace", "shop",
            "io.kubernetes.cri.sandbox-uid", "u1"));

    /** A guest console as this machine's guests write it (cut). */
    static final String CONSOLE = """
            [    0.000000] Linux version 6.1.0-56-cloud-amd64 (debian-kernel@lists.debian.org)
            [    3.029063] Run /init as init process
            javakata-init: stage1 at 3.10s
            javakata-init: exec agent at 4.33s
            time=2026-11-29T01:27:36.980951831Z level=INFO logger=Main msg="agent ready" version=0.1.0 pid=1 \
            port=/dev/vport1p1 startup_millis=2869 uptime=8.88s
            """;

    @TempDir
    Path dir;

    private final ShimLogging.Settings saved = ShimLogging.settings();
    private final ByteArrayOutputStream log = new ByteArrayOutputStream();
    private Instant now = ORIGIN;

    @AfterEach
    void restore() {
        ShimLogging.configure(saved);
    }

    private BootTimeline timeline() {
        ShimLogging.configure(new ShimLogging.Settings("k8s.io", "sb1", false,
                new PrintStream(log, true, StandardCharsets.UTF_8), Clock.systemUTC()));
        Clock clock = new Clock() {
            @Override
            public ZoneOffset getZone() {
                return ZoneOffset.UTC;
            }

            @Override
            public Clock withZone(java.time.ZoneId zone) {
                return this;
            }

            @Override
            public Instant instant() {
                return now;
            }
        };
        return new BootTimeline(POD, new SandboxPaths(dir), ORIGIN, clock);
    }

    @Test
    void eachPhaseIsOneLogLineAndAnEntryOfTimelineJson() throws Exception {
        BootTimeline timeline = timeline();
        now = ORIGIN.plusMillis(900);
        timeline.launched(new Hypervisor.OwnedProcess("virtiofsd", 10));
        timeline.launched(new Hypervisor.OwnedProcess(Hypervisor.OwnedProcess.VMM, 11));
        Files.writeString(dir.resolve("console.log"), CONSOLE);
        now = ORIGIN.plusMillis(10_000);
        timeline.agentAnswered();
        now = ORIGIN.plusMillis(10_400);
        timeline.agentReady();
        now = ORIGIN.plusMillis(11_500);
        timeline.containerCreated("c1", "app");
        now = ORIGIN.plusMillis(12_250);
        timeline.containerStarted("c1");

        // The guest's marks are placed from its uptime: agent ready at 8.88 s was the host's 10000 ms, when the agent
        // answered Check (not when the guest was initialised after it).
        assertEquals(List.of(
                new BootTimeline.Phase("vmm_spawned", "", "", 900, false),
                new BootTimeline.Phase("init_started", "", "", 4149, true),
                new BootTimeline.Phase("agent_started", "", "", 5450, true),
                new BootTimeline.Phase("agent_answered", "", "", 10_000, false),
                new BootTimeline.Phase("agent_ready", "", "", 10_400, false),
                new BootTimeline.Phase("container_created", "c1", "app", 11_500, false),
                new BootTimeline.Phase("container_started", "c1", "app", 12_250, false)), timeline.phases());
        assertEquals(Map.of("app", 1), timeline.creationsByName());

        var saved = BootTimeline.Saved.read(dir.resolve(BootTimeline.FILE_NAME));
        assertEquals(POD, saved.identity());
        assertEquals(ORIGIN.toString(), saved.origin());
        assertEquals(timeline.phases(), saved.phases());

        String lines = log.toString(StandardCharsets.UTF_8);
        assertTrue(lines.contains("msg=\"boot phase=vmm_spawned elapsed_ms=900 sandbox=sb1\""), lines);
        assertTrue(lines.contains("msg=\"boot phase=init_started elapsed_ms=4149 sandbox=sb1 clock=guest\""), lines);
        assertTrue(lines.contains("msg=\"boot phase=container_started elapsed_ms=12250 sandbox=sb1 container=c1 "
                + "name=app\""), lines);
        assertEquals(7, lines.lines().filter(l -> l.contains("boot phase=")).count(), lines);
    }

    @Test
    void theKernelIsUpAtTheConsolesFirstOutput() throws Exception {
        BootTimeline timeline = timeline();
        timeline.watchConsole(Duration.ofSeconds(10));
        Files.writeString(dir.resolve("console.log"), "");
        now = ORIGIN.plusMillis(2_345);
        Files.writeString(dir.resolve("console.log"), "[    0.000000] Linux version 6.1.0\n");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (timeline.phases().isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertEquals(List.of(new BootTimeline.Phase("kernel_up", "", "", 2_345, false)), timeline.phases());
        timeline.close();
    }

    @Test
    void consoleOutputAfterTheAgentAnsweredIsNotTheKernelsStart() throws Exception {
        // A VM restored from a template: the agent answers before the guest prints anything.
        BootTimeline timeline = timeline();
        timeline.watchConsole(Duration.ofSeconds(10));
        now = ORIGIN.plusMillis(1_670);
        timeline.agentAnswered();
        now = ORIGIN.plusMillis(1_700);
        Files.writeString(dir.resolve("console.log"), "[   20.724013] pci 0000:02:00.0: [1af4:1041] type 00\n");
        timeline.agentReady();
        timeline.close();
        assertEquals(List.of("agent_answered", "agent_ready"),
                timeline.phases().stream().map(BootTimeline.Phase::phase).toList());
    }

    @Test
    void theProcessStartComesFromItsStartTickAndTheUptime() throws Exception {
        Path proc = dir.resolve("proc");
        Files.createDirectories(proc.resolve("self"));
        // Field 22 (starttime) = 12345 ticks after boot; the command name may hold spaces and parentheses.
        Files.writeString(proc.resolve("self/stat"), "4242 (java (x) y) S 1 4242 4242 0 -1 4194560 10 0 0 0 1 2 0 0 "
                + "20 0 30 0 12345 1000000 2000 18446744073709551615\n");
        Files.writeString(proc.resolve("uptime"), "130.45 250.00\n");
        Clock clock = Clock.fixed(ORIGIN, java.time.ZoneOffset.UTC);
        // Up 130.45 s, started at 123.45 s: 7 s ago.
        assertEquals(java.util.Optional.of(ORIGIN.minusMillis(7000)), BootTimeline.processStart(proc, clock));
        Files.writeString(proc.resolve("uptime"), "garbage\n");
        assertEquals(java.util.Optional.empty(), BootTimeline.processStart(proc, clock));
        // This JVM's own start is in the past, within its uptime.
        Instant own = BootTimeline.processStart(Path.of("/proc"), Clock.systemUTC()).orElseThrow();
        assertTrue(own.isBefore(Instant.now()), own::toString);
    }

    @Test
    void withoutTheAgentsLineTheGuestMarksAreLeftOut() {
        assertEquals(List.of(), BootTimeline.guestPhases("[    3.029063] Run /init as init process\n", 5000));
    }

    @Test
    void restartsKeepTheBootPhasesAndTheNewestContainers() {
        BootTimeline timeline = timeline();
        timeline.launched(new Hypervisor.OwnedProcess(Hypervisor.OwnedProcess.VMM, 11));
        for (int i = 0; i < BootTimeline.MAX_PHASES; i++) {
            now = now.plusMillis(1);
            timeline.containerCreated("c" + i, "app");
        }
        List<BootTimeline.Phase> phases = timeline.phases();
        assertEquals(BootTimeline.MAX_PHASES, phases.size());
        assertEquals("vmm_spawned", phases.getFirst().phase());
        assertEquals("c" + (BootTimeline.MAX_PHASES - 1), phases.getLast().container());
        assertEquals(Map.of("app", BootTimeline.MAX_PHASES), timeline.creationsByName());
    }
}
