package io.javakata.hypervisor.qemu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.javakata.hypervisor.VmSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Against a real QEMU, paused (-S, no guest runs), in a network namespace of its own as a clone's is, and a real tap
 * in another namespace, the pod's stand-in (the tests run as root).
 */
@Tag("qemu")
@Timeout(60)
class TapHandOverTest {

    private static final Path QEMU = Path.of("/usr/bin/qemu-system-x86_64");
    private static final Duration DEADLINE = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    private String netnsName;
    private Path netns;
    private Process qemu;
    private QmpClient qmp;

    @BeforeEach
    void podNamespaceWithTapAndAQemuOutsideIt() throws Exception {
        netnsName = "jk-handover-" + UUID.randomUUID().toString().substring(0, 8);
        netns = Path.of("/var/run/netns", netnsName);
        run("ip", "netns", "add", netnsName);
        run("ip", "-n", netnsName, "tuntap", "add", "dev", "tap0_jk", "mode", "tap");
        run("ip", "-n", netnsName, "link", "set", "tap0_jk", "up");
        qemu = new ProcessBuilder(QemuCommandLine.UNSHARE, "--net", QEMU.toString(), "-nodefaults", "-no-user-config",
                "-display", "none", "-S", "-M", "q35", "-accel", "tcg",
                "-qmp", "unix:" + dir.resolve("qmp.sock") + ",server=on,wait=off",
                "-qmp", "unix:" + dir.resolve("qmp-taps.sock") + ",server=on,wait=off",
                "-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1")
                .redirectErrorStream(true).redirectOutput(dir.resolve("qemu.log").toFile()).start();
        qmp = QmpConnector.connect(dir.resolve("qmp.sock"), qemu, DEADLINE);
    }

    @AfterEach
    void stop() throws Exception {
        if (qmp != null) {
            qmp.close();
        }
        qemu.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        run("ip", "netns", "del", netnsName);
    }

    @Test
    void qemuServesThePodsTapFromItsOwnNamespace() throws Exception {
        TapHandOver.handOver(dir.resolve("qmp-taps.sock"), netns,
                List.of(new VmSpec.Nic("net0", "tap0_jk", "02:42:ac:11:00:02")), DEADLINE);

        String network = qmp.execute("human-monitor-command", Map.of("command-line", "info network"), DEADLINE)
                .asText();
        assertTrue(network.contains("net0: index=0,type=tap,fd="), network);
        // The device goes on the backend exactly as a clone's restore hot-plugs it.
        qmp.execute("device_add", Map.of("driver", "virtio-net-pci", "netdev", "net0", "id", "net0-dev",
                "mac", "02:42:ac:11:00:02", "bus", "rp1"), DEADLINE);
        // QEMU holds the tap's only queue now: the tap has a carrier in the pod's namespace...
        assertTrue(run("ip", "-n", netnsName, "link", "show", "tap0_jk").contains("LOWER_UP"));
        // ...while QEMU's own namespace has nothing but a loopback device.
        String own = run("nsenter", "--net=/proc/" + qemu.pid() + "/ns/net", "ip", "-o", "link", "show");
        assertEquals(1, own.lines().count(), own);
        assertTrue(own.contains(": lo:"), own);
        assertFalse(Files.readSymbolicLink(Path.of("/proc/" + qemu.pid() + "/ns/net"))
                .equals(Files.readSymbolicLink(Path.of("/proc/self/ns/net"))), "QEMU is not in the host's namespace");
    }

    @Test
    void aMissingTapIsNamedAndQemuGetsNoBackend() throws Exception {
        IOException e = assertThrows(IOException.class, () -> TapHandOver.handOver(dir.resolve("qmp-taps.sock"), netns,
                List.of(new VmSpec.Nic("net0", "tap7_jk", "02:42:ac:11:00:02")), DEADLINE));
        assertTrue(e.getMessage().startsWith("NIC net0 (tap tap7_jk): tap tap7_jk: no such persistent tap"),
                e.getMessage());
        String network = qmp.execute("human-monitor-command", Map.of("command-line", "info network"), DEADLINE)
                .asText();
        assertFalse(network.contains("net0"), network);
    }

    @Test
    void qemusRefusalIsReportedWithItsReason() throws Exception {
        List<VmSpec.Nic> nics = List.of(new VmSpec.Nic("net0", "tap0_jk", "02:42:ac:11:00:02"));
        TapHandOver.handOver(dir.resolve("qmp-taps.sock"), netns, nics, DEADLINE);
        // A second backend with the same id: QEMU refuses it, and says why.
        run("ip", "-n", netnsName, "tuntap", "add", "dev", "tap1_jk", "mode", "tap");
        IOException e = assertThrows(IOException.class, () -> TapHandOver.handOver(dir.resolve("qmp-taps.sock"),
                netns, List.of(new VmSpec.Nic("net0", "tap1_jk", "02:42:ac:11:00:03")), DEADLINE));
        assertTrue(e.getMessage().startsWith("NIC net0 (tap tap1_jk): QMP netdev_add: ")
                && e.getMessage().contains("net0"), e.getMessage());
    }

    @Test
    void noMonitorThereIsAClearError() {
        IOException e = assertThrows(IOException.class, () -> TapHandOver.handOver(dir.resolve("absent.sock"), netns,
                List.of(new VmSpec.Nic("net0", "tap0_jk", "02:42:ac:11:00:02")), DEADLINE));
        assertTrue(e.getMessage().startsWith("connect(" + dir.resolve("absent.sock") + ")"), e.getMessage());
    }

    private static String run(String... argv) throws Exception {
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0, String.join(" ", argv) + ": " + out);
        return out;
    }
}
