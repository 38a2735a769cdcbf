package io.javakata.hypervisor.qemu;

import io.javakata.hypervisor.Accelerator;
import io.javakata.hypervisor.AgentEndpoint;
import io.javakata.hypervisor.ConsoleRing;
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
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
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
            flood=0
            for word in $(/bin/busybox cat /proc/cmdline); do
              case "$word" in
                javakata_linger=*) linger="${word#javakata_linger=}" ;;
                javakata_flood=*) flood="${word#javakata_flood=}" ;;
              esac
            done
            if [ "$flood" -gt 0 ]; then
              /bin/busybox yes flooding-the-console | /bin/busybox head -c "$((flood * 1024))" > /dev/console
              echo "%1$s-FLOOD-END"
            fi
            echo "%1$s uptime=$(/bin/busybox cut -d' ' -f1 /proc/uptime)"
            /bin/busybox sleep "$linger"
            /bin/busybox poweroff -f
            """.formatted(MARKER);
    /** The user the confinement test runs QEMU as: one every Debian system has. */
    private static final String RUN_AS = "nobody";

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
            assertEquals(HostFacts.kvmUsable(QEMU) ? Accelerator.KVM : Accelerator.TCG,
                    vm.accelerator().accelerator(), vm.accelerator().reason());
            assertEquals(new AgentEndpoint.Serial(spec.stateDir().resolve("agent.sock"), "agent0"),
                    vm.agentEndpoint());
            assertEquals("running", vm.qmp().execute("query-status", Map.of(), Duration.ofSeconds(5))
                    .path("status").asText());
            try (SocketChannel agent = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                assertTrue(agent.connect(UnixDomainSocketAddress.of(spec.stateDir().resolve("agent.sock"))));
            }
            String line = awaitMarker(vm.paths().consoleLog(), Duration.ofSeconds(90));
            long marked = System.nanoTime();
            System.out.printf("q35 boot under " + vm.accelerator().accelerator() + ": start() returned after %d ms, marker after %d ms from launch "
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
        // QEMU creates its console socket before it loads the kernel, so it may die before or after the driver
        // connected to that socket; either way the error has QEMU's exit code and its own words.
        assertTrue(e.getMessage().matches("start VM h2-q35: (the VMM|QEMU) exited with code 1 before (its console|QMP).*"),
                e.getMessage());
        assertTrue(e.getMessage().contains("could not open kernel file '" + missing + "'"), e.getMessage());
        assertEquals(1, vm.onExit().get(5, TimeUnit.SECONDS));
        assertNothingLeft(spec);
        vm.stop(Duration.ofSeconds(1));
    }

    /**
     * A vsock agent channel needs /dev/vhost-vsock on the host (QEMU manual, "vhost-vsock-pci"): with it the
     * VM boots with a CID of its own, held while it runs; without it start fails naming the device. Either
     * way the CID is released once the VM is gone.
     */
    @Test
    void vsockBootsWithACidWhereTheHostHasVhostVsockAndFailsClearlyWhereNot() throws Exception {
        VmSpec spec = spec("q35", "javakata_linger=600", false, VmSpec.AgentChannel.VSOCK, kernel);
        QemuHypervisor vm = hypervisor(spec);
        if (HostFacts.hasVhostVsock()) {
            try {
                vm.start();
                AgentEndpoint.Vsock endpoint = assertInstanceOf(AgentEndpoint.Vsock.class, vm.agentEndpoint());
                assertTrue(endpoint.cid() >= 3, "CIDs 0-2 are reserved: " + endpoint);
                assertEquals(2, cidFiles().size(), "the lock and the VM's CID: " + cidFiles());
            } finally {
                vm.stop(Duration.ofSeconds(5));
            }
        } else {
            IOException e = assertThrows(IOException.class, vm::start);
            assertTrue(e.getMessage().contains("vhost-vsock"), e.getMessage());
        }
        assertEquals(List.of(".lock"), cidFiles());
        assertNothingLeft(spec);
    }

    private List<String> cidFiles() throws IOException {
        try (Stream<Path> cids = Files.list(dir.resolve("run/vsock-cids"))) {
            return cids.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    /**
     * QEMU as {@link #RUN_AS} under its seccomp filter, virtiofsd's worker under its own filter and
     * with fewer capabilities, read from /proc/PID/status while the guest runs; and a guest that
     * floods its console leaves at most the configured bound on the host, with its last line kept.
     */
    @Test
    void qemuAndVirtiofsdRunConfinedAndAConsoleFloodStaysBounded() throws Exception {
        long bound = 64 * 1024;
        VmSpec spec = spec("q35", "javakata_linger=600 javakata_flood=1024", true, VmSpec.AgentChannel.SERIAL, kernel)
                .withHostLimits(RUN_AS, bound);
        QemuHypervisor vm = hypervisor(spec);
        try {
            vm.start();
            Confinement.Status qemu = Confinement.Status.of(vm.pid());
            long nobody = Confinement.uidOf(RUN_AS);
            assertEquals(List.of(nobody, nobody, nobody, nobody), qemu.uids(), qemu.toString());
            assertEquals(0L, qemu.capEff(), qemu.toString());
            assertEquals(0L, qemu.capPrm(), qemu.toString());
            assertEquals(2, qemu.seccomp(), "QEMU must run under its seccomp filter: " + qemu);
            assertEquals(1, qemu.noNewPrivs(), qemu.toString());
            List<String> devices = Confinement.openDevices(vm.pid());
            assertTrue(Confinement.QEMU_DEVICES.containsAll(devices), "QEMU holds host devices " + devices);

            String line = awaitMarker(vm.paths().consoleLog(), Duration.ofSeconds(90));
            // virtiofsd sandboxes itself once QEMU connects, which start() waited for.
            long daemon = Confinement.pidWithArgument("--socket-path=" + spec.stateDir().resolve("virtiofsd.sock"));
            Confinement.Status parent = Confinement.Status.of(daemon);
            assertEquals(0L, parent.capEff(), "virtiofsd's waiting parent keeps no capability: " + parent);
            long worker = ProcessHandle.of(daemon).orElseThrow().children().findFirst().orElseThrow().pid();
            Confinement.Status child = Confinement.Status.of(worker);
            assertEquals(2, child.seccomp(), "virtiofsd must serve under its seccomp filter: " + child);
            assertEquals(Confinement.VIRTIOFSD_CAPS, child.capEff(),
                    "virtiofsd's capabilities: " + Long.toHexString(child.capEff()));

            long onHost = 0;
            for (Path file : ConsoleRing.files(vm.paths().consoleLog())) {
                onHost += Files.exists(file) ? Files.size(file) : 0;
            }
            assertTrue(Files.exists(ConsoleRing.previous(vm.paths().consoleLog())), "the flood filled the ring: "
                    + ConsoleRing.tail(vm.paths().consoleLog(), 3000));
            assertTrue(onHost <= bound, "1 MiB of guest console left " + onHost + " bytes, bound " + bound);
            String tail = ConsoleRing.tail(vm.paths().consoleLog(), 1500);
            assertTrue(tail.contains(MARKER + "-FLOOD-END"), "the newest console lines are kept: " + tail);
            System.out.printf("confined VM: QEMU %s, virtiofsd worker %s; console %d bytes on the host (%s)%n",
                    qemu, child, onHost, line.strip());
        } finally {
            vm.stop(Duration.ofSeconds(5));
        }
        assertNothingLeft(spec);
    }

    private static String awaitMarker(Path console, Duration timeout) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            // The ring may rotate between any two calls here (the file renamed to .1, a new one created):
            // read both files and treat a file that vanished meanwhile as not yet written.
            for (Path file : ConsoleRing.files(console)) {
                List<String> lines;
                try {
                    lines = Files.readAllLines(file, StandardCharsets.ISO_8859_1);
                } catch (NoSuchFileException e) {
                    continue;
                }
                for (String line : lines) {
                    if (line.contains(MARKER)) {
                        return line;
                    }
                }
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no " + MARKER + " in " + console + " within " + timeout + ":\n"
                + ConsoleRing.tail(console, 4000));
    }

    private static void assertNothingLeft(VmSpec spec) throws IOException {
        for (String socket : List.of("qmp.sock", "agent.sock", "virtiofsd.sock", "console.sock")) {
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
