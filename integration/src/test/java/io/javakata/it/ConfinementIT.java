package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.javakata.it.cri.v1.ContainerConfig;
import io.javakata.it.cri.v1.LinuxContainerSecurityContext;
import io.javakata.it.cri.v1.Mount;

/**
 * Issue 7 items 4 and 5 (the guest is hostile): a running pod's QEMU runs as the configured unprivileged user with no
 * capability, under its seccomp filter, holding no host device but the VM's; virtiofsd serves under its own filter
 * with fewer capabilities; a privileged container flooding the guest's serial console leaves at most the configured
 * bound on the host; and a device node a privileged container makes in a read-write volume never reaches the host.
 * The hybrid vsock backend's confinement, and a cold-booted QEMU's: AgentTransportsIT.
 *
 * <p>{@code -Djavakata.it.qemuUser} (default {@code javakata-qemu}) and {@code -Djavakata.it.consoleMaxKib} (default
 * 1024) must match the configuration under test ({@code [hypervisor] run_as}, {@code console_log_max_kib}).
 */
@Tag("containerd")
@Tag("qemu")
@Tag("cri")
@Timeout(value = 420, unit = TimeUnit.SECONDS)
class ConfinementIT {

    private static final String QEMU_USER = System.getProperty("javakata.it.qemuUser", "javakata-qemu");
    private static final long CONSOLE_MAX = Long.getLong("javakata.it.consoleMaxKib", 1024) * 1024;

    /**
     * What virtiofsd's worker keeps: chown (0), dac_override (1), fowner (3), fsetid (4), setgid (6), setuid (7)
     * (linux/capability.h); no mknod (27), no setfcap (31).
     */
    private static final long VIRTIOFSD_CAPS = (1L << 0) | (1L << 1) | (1L << 3) | (1L << 4) | (1L << 6) | (1L << 7);
    /** The host devices a VM's QEMU may hold open. */
    private static final Set<String> QEMU_DEVICES = Set.of("/dev/null", "/dev/net/tun", "/dev/kvm", "/dev/vhost-vsock",
            "/dev/urandom", "/dev/random");

    @RegisterExtension
    static final PrivateCri CRI = new PrivateCri();

    private static Path volume;
    private static Pod pod;
    private static String main;

    @BeforeAll
    static void pod() throws Exception {
        volume = Files.createDirectories(CRI.containerd().dir().resolve("confinement-rw"));
        // CRI allows a privileged container only in a privileged pod.
        pod = CRI.runPod(CRI.podConfig("confinement-it", b -> {
            b.getLinuxBuilder().getSecurityContextBuilder().setPrivileged(true);
            return b;
        }), PrivateCri.HANDLER);
        ContainerConfig.Builder config = pod.containerConfig("main", "sleep", "3600")
                .addMounts(Mount.newBuilder().setHostPath(volume.toString()).setContainerPath("/mnt/rw"));
        LinuxContainerSecurityContext.Builder security = config.getLinuxBuilder().getSecurityContextBuilder();
        security.setPrivileged(true);
        main = pod.run(config.build());
    }

    @AfterAll
    static void teardown() {
        if (pod != null) {
            pod.close();
        }
    }

    @Test
    void qemuRunsAsItsUserWithoutCapabilitiesUnderSeccompAndHoldsOnlyTheVmsDevices() throws IOException {
        long qemu = onlyProcess("qemu-system-x86_64");
        ProcStatus status = ProcStatus.of(qemu);
        long uid = uidOf(QEMU_USER);
        assertEquals(List.of(uid, uid, uid, uid), status.uids(), "QEMU's uids: " + status);
        // initgroups(3) lists the user's own group too; root's groups (or kvm, disk...) must be gone.
        String gid = passwdField(QEMU_USER, 3);
        assertTrue(status.groups().isEmpty() || status.groups().equals(gid),
                "QEMU keeps a supplementary group other than its own " + gid + ": " + status);
        assertEquals(0L, status.capEff(), "QEMU's effective capabilities: " + status);
        assertEquals(0L, status.capPrm(), "QEMU's permitted capabilities: " + status);
        assertEquals(2, status.seccomp(), "QEMU must run under its seccomp filter (-sandbox): " + status);
        assertEquals(1, status.noNewPrivs(), status.toString());
        List<String> devices = openDevices(qemu);
        assertTrue(QEMU_DEVICES.containsAll(devices), "QEMU holds host devices " + devices);
        assertTrue(devices.contains("/dev/net/tun"), "the pod's tap is open: " + devices);
    }

    /**
     * A pod restored from a VM template: its QEMU runs in a network namespace of its own, which has nothing but a
     * loopback device, and serves the pod's NIC through the tap descriptor it was handed; neither the host's nor the
     * pod's namespace (where the pod's veth and the CNI bridge's neighbours are) is QEMU's to open a socket in. A
     * cold-booted pod's QEMU opens its tap by name and runs in the pod's namespace. Either way the pod's tap has its
     * carrier: QEMU holds it.
     */
    @Test
    void qemuOfARestoredPodHasANetworkNamespaceOfItsOwn() throws Exception {
        long qemu = onlyProcess("qemu-system-x86_64");
        Path qemuNetns = Path.of("/proc/" + qemu + "/ns/net");
        Path podNetns = CRI.containerd().podNetns(pod.status().getNetwork().getIp());
        String ownLinks = run("nsenter", "--net=" + qemuNetns, "ip", "-o", "link", "show");
        assertNotEquals(Files.readSymbolicLink(Path.of("/proc/self/ns/net")), Files.readSymbolicLink(qemuNetns),
                "QEMU runs in the host's network namespace");
        boolean restored = cmdline(qemu).contains(" -incoming ");
        // The suite's handler restores a template where the host allows it (the serial channel); a host whose agent
        // channel is vsock cold-boots. TemplateIT checks the same of its restored pods.
        System.out.println("ConfinementIT: the pod's QEMU " + (restored ? "was restored from a template" : "booted"));
        if (restored) {
            assertFalse(Files.isSameFile(podNetns, qemuNetns), "a clone's QEMU runs in the pod's network namespace");
            assertEquals(1, ownLinks.lines().count(), "QEMU's namespace has devices: " + ownLinks);
            assertTrue(ownLinks.contains(": lo: <LOOPBACK>"), "its loopback stays down: " + ownLinks);
        } else {
            assertTrue(Files.isSameFile(podNetns, qemuNetns), "a cold-booted QEMU runs in the pod's namespace");
        }
        assertTrue(run("nsenter", "--net=" + podNetns, "ip", "-o", "link", "show", "tap0_jk").contains("LOWER_UP"),
                "QEMU serves the pod's tap");
    }

    private static String run(String... argv) {
        return Ctr.execute(List.of(argv), null, Duration.ofSeconds(30)).assertOk().stdout();
    }

    @Test
    void virtiofsdServesUnderItsSeccompFilterWithoutMknodOrSetfcap() throws IOException {
        long daemon = onlyProcess("--socket-path="); // virtiofsd's own option: QEMU's command line names only its socket
        List<ProcessHandle> workers = ProcessHandle.of(daemon).orElseThrow().children().toList();
        assertEquals(1, workers.size(), "virtiofsd forks one sandboxed worker: " + workers);
        ProcStatus parent = ProcStatus.of(daemon);
        assertEquals(0L, parent.capEff(), "virtiofsd's waiting parent keeps no capability: " + parent);
        ProcStatus worker = ProcStatus.of(workers.getFirst().pid());
        assertEquals(2, worker.seccomp(), "virtiofsd must serve under its seccomp filter: " + worker);
        assertEquals(Long.toHexString(VIRTIOFSD_CAPS), Long.toHexString(worker.capEff()),
                "virtiofsd's worker capabilities: " + worker);
    }

    @Test
    void aDeviceNodeMadeInAReadWriteVolumeNeverReachesTheHost() {
        // The container is privileged (CAP_MKNOD, every device allowed): only virtiofsd can refuse.
        var mknod = pod.execSync(main, Duration.ofSeconds(60), "mknod", "/mnt/rw/host-null", "c", "1", "3");
        assertNotEquals(0, mknod.getExitCode(), "mknod of a character device in a volume succeeded");
        assertTrue(mknod.getStderr().toStringUtf8().contains("Operation not permitted"), mknod.getStderr().toStringUtf8());
        assertFalse(Files.exists(volume.resolve("host-null"), LinkOption.NOFOLLOW_LINKS), "a device node reached the host");
        var block = pod.execSync(main, Duration.ofSeconds(60), "mknod", "/mnt/rw/host-sda", "b", "8", "0");
        assertNotEquals(0, block.getExitCode(), "mknod of a block device in a volume succeeded");
        assertFalse(Files.exists(volume.resolve("host-sda"), LinkOption.NOFOLLOW_LINKS), "a device node reached the host");
        // The volume is writable and a FIFO (which needs no capability) still works: it is the device that is refused.
        pod.execOk(main, "mkfifo", "/mnt/rw/fifo");
        assertTrue(Files.exists(volume.resolve("fifo")) && !Files.isRegularFile(volume.resolve("fifo")), "no FIFO on the host");
    }

    /**
     * The default guest_lockdown: the guest kernel runs locked down at "confidentiality", so even the guest's root
     * (this privileged container) finds no trace event in tracefs, whose files would otherwise hold ~9 MiB of every
     * VM's memory. Not a protection of the host: what the default's memory figure rests on.
     */
    @Test
    void theGuestKernelIsLockedDownAndMakesNoTraceEvents() {
        String lockdown = pod.execOk(main, "sh", "-c",
                "mkdir -p /tmp/sec && mount -t securityfs none /tmp/sec && cat /tmp/sec/lockdown").strip();
        assertEquals("none integrity [confidentiality]", lockdown);
        String tracefs = pod.execOk(main, "sh", "-c",
                "mkdir -p /tmp/tr && mount -t tracefs none /tmp/tr && ls -A /tmp/tr | wc -l").strip();
        assertEquals("0", tracefs, "tracefs in a locked-down guest has entries");
    }

    @Test
    void aGuestFloodingItsConsoleKeepsAtMostTheBoundOnTheHost() throws IOException, InterruptedException {
        Path log = CRI.containerd().sandboxDir(pod.id()).resolve("console.log");
        Path previous = log.resolveSibling("console.log.1");
        assertTrue(Files.exists(log), "no console log at " + log);
        // The guest's ttyS0 (4:64) is its console; a privileged container can make the node in its own /dev (a guest
        // tmpfs) and write to it. A third more than the bound, then an end marker.
        long flood = CONSOLE_MAX + CONSOLE_MAX / 3;
        String script = "mknod /dev/jk-ttyS0 c 4 64 && yes 'javakata console flood 0123456789abcdefghijklmnopqrstuvwxyz'"
                + " | head -c " + flood + " > /dev/jk-ttyS0 && echo JK-FLOOD-END > /dev/jk-ttyS0";
        long start = System.nanoTime();
        var response = pod.execSync(main, Duration.ofSeconds(240), "sh", "-c", script);
        long seconds = (System.nanoTime() - start) / 1_000_000_000;
        assertEquals(0, response.getExitCode(), response.getStderr().toStringUtf8());
        String tail = awaitConsoleEnd(log, previous, Duration.ofSeconds(30));
        long onHost = Files.size(log) + (Files.exists(previous) ? Files.size(previous) : 0);
        assertTrue(Files.exists(previous), "the flood did not fill the ring");
        assertTrue(onHost <= CONSOLE_MAX, flood + " bytes of guest console left " + onHost + " bytes on the host, bound "
                + CONSOLE_MAX);
        assertTrue(tail.contains("JK-FLOOD-END"), tail);
        System.out.printf("console flood: %d bytes written in %d s, %d bytes on the host (bound %d)%n", flood, seconds,
                onHost, CONSOLE_MAX);
    }

    /** The console's last bytes once they show the flood's end marker (the copy to the host trails the guest). */
    private static String awaitConsoleEnd(Path log, Path previous, Duration timeout) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            String tail = tail(previous, 2000) + tail(log, 2000);
            if (tail.contains("JK-FLOOD-END") || System.nanoTime() > deadline) {
                return tail;
            }
            TimeUnit.MILLISECONDS.sleep(100);
        }
    }

    private static String tail(Path file, int bytes) throws IOException {
        if (!Files.exists(file)) {
            return "";
        }
        byte[] all = Files.readAllBytes(file);
        return new String(all, Math.max(0, all.length - bytes), Math.min(all.length, bytes), java.nio.charset.StandardCharsets.UTF_8);
    }

    /**
     * The single process of the pod's VM with {@code name} in its command line whose parent has not (virtiofsd
     * forks); the pod's VM is the one whose command line names the pod's sandbox directory.
     */
    private static long onlyProcess(String name) throws IOException {
        String sandbox = CRI.containerd().sandboxDir(pod.id()) + "/";
        List<Long> pids = CRI.containerd().processesOf(name, pod.id());
        List<Long> roots = pids.stream().filter(pid -> ProcessHandle.of(pid).flatMap(ProcessHandle::parent)
                .map(parent -> !pids.contains(parent.pid())).orElse(true)).toList();
        assertEquals(1, roots.size(), () -> name + " processes of the pod's VM " + sandbox + ": " + pids + "; all: "
                + describe(name));
        return roots.getFirst();
    }

    private static String describe(String name) {
        try {
            return CRI.containerd().processes(name).stream().map(pid -> pid + " (parent "
                    + ProcessHandle.of(pid).flatMap(ProcessHandle::parent).map(p -> p.pid() + " " + cmdline(p.pid()))
                            .orElse("?") + "): " + cmdline(pid)).toList().toString();
        } catch (IOException e) {
            return e.toString();
        }
    }

    private static String cmdline(long pid) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc/" + pid + "/cmdline")), java.nio.charset.StandardCharsets.UTF_8)
                    .replace('\0', ' ').strip();
        } catch (IOException e) {
            return "";
        }
    }

    private static List<String> openDevices(long pid) throws IOException {
        List<String> devices = new ArrayList<>();
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/" + pid + "/fd"))) {
            for (Path fd : fds) {
                try {
                    String target = Files.readSymbolicLink(fd).toString();
                    if (target.startsWith("/dev/") && !devices.contains(target)) {
                        devices.add(target);
                    }
                } catch (IOException e) {
                    // closed meanwhile
                }
            }
        }
        return devices;
    }

    private static long uidOf(String user) throws IOException {
        return Long.parseLong(passwdField(user, 2));
    }

    private static String passwdField(String user, int index) throws IOException {
        return Files.readAllLines(Path.of("/etc/passwd")).stream().map(l -> l.split(":")).filter(f -> f[0].equals(user))
                .map(f -> f[index]).findFirst()
                .orElseThrow(() -> new AssertionError("no user " + user + " on this host (make install creates it)"));
    }
}
