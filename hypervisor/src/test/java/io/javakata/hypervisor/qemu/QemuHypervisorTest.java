package io.javakata.hypervisor.qemu;

import io.javakata.hypervisor.Accelerator;
import io.javakata.hypervisor.AgentEndpoint;
import io.javakata.hypervisor.VmSpec;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Boots real VMs under QEMU with a Debian cloud kernel and a busybox initramfs built here. The kernel
 * comes from {@code -Djavakata.test.kernel}, by default the guest build's {@code build/guest/vmlinuz}.
 */
@Tag("qemu")
@Timeout(120)
class QemuHypervisorTest {

    private static final Path QEMU = Path.of("/usr/bin/qemu-system-x86_64");
    private static final Path VIRTIOFSD = Path.of("/usr/lib/qemu/virtiofsd");
    private static final Path BUSYBOX = Path.of("/bin/busybox");
    private static final String MARKER = "JAVAKATA-BOOT-MARKER";
    private static final String INIT = """
            #!/bin/sh
            /bin/busybox mount -t proc proc /proc
            /bin/busybox mount -t sysfs sys /sys
            linger=0
            for word in $(/bin/busybox cat /proc/cmdline); do
              case "$word" in javakata_linger=*) linger="${word#javakata_linger=}" ;; esac
            done
            echo "%s uptime=$(/bin/busybox cut -d' ' -f1 /proc/uptime)"
            /bin/busybox sleep "$linger"
            /bin/busybox poweroff -f
            """.formatted(MARKER);

    @TempDir
    static Path assets;
    static Path kernel;
    static Path initrd;

    @TempDir
    Path dir;

    @BeforeAll
    static void buildInitramfs() throws IOException {
        Path root = Path.of(System.getProperty("user.dir")).getParent();
        kernel = Path.of(System.getProperty("javakata.test.kernel", root.resolve("build/guest/vmlinuz").toString()));
        assertTrue(Files.isReadable(kernel), "guest kernel " + kernel + " is missing: run `make test` (it builds "
                + "build/guest/vmlinuz) or pass -Djavakata.test.kernel=/path/to/vmlinuz");
        initrd = assets.resolve("initrd.cpio");
        new NewcArchive()
                .directory("bin").directory("dev").directory("proc").directory("sys")
                .charDevice("dev/console", 0600, 5, 1)
                .file("bin/busybox", 0755, Files.readAllBytes(BUSYBOX))
                .symlink("bin/sh", "busybox")
                .file("init", 0755, INIT.getBytes(StandardCharsets.UTF_8))
                .writeTo(initrd);
    }

    private VmSpec spec(String machine, String params, boolean shareDir, VmSpec.AgentChannel channel, Path kernelPath)
            throws IOException {
        VmSpec.SharedFs shared = null;
        if (shareDir) {
            Path source = Files.createDirectories(dir.resolve("shared"));
            shared = new VmSpec.SharedFs("javakata", source, VIRTIOFSD, "auto");
        }
        return new VmSpec("h2-" + machine, Files.createDirectories(dir.resolve("vm")), QEMU, kernelPath, initrd, params,
                1, 256, Accelerator.AUTO, machine, shared, channel, Duration.ofSeconds(30));
    }

    private QemuHypervisor hypervisor(VmSpec spec) {
        return new QemuHypervisor(spec, dir.resolve("run/kvm-probe.json"));
    }

    @Test
    void q35BootsWithVirtiofsAndSerialAgentAndStopLeavesNothing() throws Exception {
        VmSpec spec = spec("q35", "javakata_linger=600", true, VmSpec.AgentChannel.SERIAL, kernel);
        QemuHypervisor vm = hypervisor(spec);
        long launched = System.nanoTime();
        try {
            vm.start();
            long started = System.nanoTime();
            assertEquals(Accelerator.TCG, vm.accelerator().accelerator(), vm.accelerator().reason());
            assertEquals(new AgentEndpoint.Serial(spec.stateDir().resolve("agent.sock"), "agent0"),
                    vm.agentEndpoint());
            assertEquals("running", vm.qmp().execute("query-status", Map.of(), Duration.ofSeconds(5))
                    .path("status").asText());
            try (SocketChannel agent = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                assertTrue(agent.connect(UnixDomainSocketAddress.of(spec.stateDir().resolve("agent.sock"))));
            }
            String line = awaitMarker(vm.paths().consoleLog(), Duration.ofSeconds(90));
            long marked = System.nanoTime();
            System.out.printf("q35 boot under TCG: start() returned after %d ms, marker after %d ms from launch "
                    + "(%s)%n", (started - launched) / 1_000_000, (marked - launched) / 1_000_000, line.strip());
            assertFalse(vm.onExit().isDone(), "QEMU exited early");
        } finally {
            vm.stop(Duration.ofSeconds(5));
        }
        assertEquals(0, vm.onExit().get(10, TimeUnit.SECONDS));
        assertNothingLeft(spec);
        vm.stop(Duration.ofSeconds(5)); // idempotent, and quiet for a VM already gone
    }

    @Test
    void microvmGuestPowersOffByItselfAndStopThenCleansUp() throws Exception {
        VmSpec spec = spec("microvm", "javakata_linger=1", true, VmSpec.AgentChannel.SERIAL, kernel);
        QemuHypervisor vm = hypervisor(spec);
        long launched = System.nanoTime();
        try {
            vm.start();
            long started = System.nanoTime();
            String line = awaitMarker(vm.paths().consoleLog(), Duration.ofSeconds(90));
            long marked = System.nanoTime();
            assertEquals(0, vm.onExit().get(30, TimeUnit.SECONDS), "guest poweroff -f ends QEMU with 0");
            long exited = System.nanoTime();
            System.out.printf("microvm boot under TCG: start() returned after %d ms, marker after %d ms, QEMU exit "
                    + "after %d ms (1 s linger) from launch (%s)%n", (started - launched) / 1_000_000,
                    (marked - launched) / 1_000_000, (exited - launched) / 1_000_000, line.strip());
        } finally {
            vm.stop(Duration.ofSeconds(5));
        }
        assertNothingLeft(spec);
    }

    @Test
    void aMissingKernelFailsWithQemusOwnErrorAndLeavesNothing() throws Exception {
        Path missing = dir.resolve("no-such-vmlinuz");
        VmSpec spec = spec("q35", "", true, VmSpec.AgentChannel.SERIAL, missing);
        QemuHypervisor vm = hypervisor(spec);
        IOException e = assertThrows(IOException.class, vm::start);
        assertTrue(e.getMessage().startsWith("start VM h2-q35: QEMU exited with code 1 before QMP answered"),
                e.getMessage());
        assertTrue(e.getMessage().contains("could not open kernel file '" + missing + "'"), e.getMessage());
        assertEquals(1, vm.onExit().get(5, TimeUnit.SECONDS));
        assertNothingLeft(spec);
        vm.stop(Duration.ofSeconds(1));
    }

    @Test
    void vsockWithoutVhostVsockFailsAndReleasesTheCid() throws Exception {
        VmSpec spec = spec("q35", "", false, VmSpec.AgentChannel.VSOCK, kernel);
        QemuHypervisor vm = hypervisor(spec);
        IOException e = assertThrows(IOException.class, vm::start);
        // This machine has no /dev/vhost-vsock (protocol-facts §7.3); a host with it boots instead.
        assertTrue(e.getMessage().contains("vhost-vsock"), e.getMessage());
        try (Stream<Path> cids = Files.list(dir.resolve("run/vsock-cids"))) {
            assertEquals(List.of(".lock"), cids.map(p -> p.getFileName().toString()).toList());
        }
        assertNothingLeft(spec);
    }

    private static String awaitMarker(Path console, Duration timeout) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (Files.exists(console)) {
                for (String line : Files.readAllLines(console, StandardCharsets.ISO_8859_1)) {
                    if (line.contains(MARKER)) {
                        return line;
                    }
                }
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no " + MARKER + " in " + console + " within " + timeout + ":\n"
                + (Files.exists(console) ? Files.readString(console, StandardCharsets.ISO_8859_1) : "(no file)"));
    }

    private static void assertNothingLeft(VmSpec spec) throws IOException {
        for (String socket : List.of("qmp.sock", "agent.sock", "virtiofsd.sock")) {
            assertFalse(Files.exists(spec.stateDir().resolve(socket)), socket + " left behind");
        }
        String stateDir = spec.stateDir().toString();
        List<String> survivors = ProcessHandle.allProcesses()
                .filter(p -> p.info().arguments().map(Arrays::asList).orElse(List.of()).stream()
                        .anyMatch(arg -> arg.contains(stateDir)))
                .map(p -> p.pid() + " " + p.info().commandLine().orElse("?"))
                .toList();
        assertEquals(List.of(), survivors, "processes left behind");
    }
}
