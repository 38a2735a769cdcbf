package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.javakata.it.cri.v1.LinuxContainerSecurityContext;
import io.javakata.it.cri.v1.LinuxSandboxSecurityContext;
import io.javakata.it.cri.v1.Mount;
import io.javakata.it.cri.v1.NamespaceOption;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 7 items 1 and 2: root in the guest attacks the host through the pod's share. The attacker is root in the
 * guest outside every container, in the agent's own namespaces, where the virtiofs share is mounted at
 * /run/javakata/shared: the shell of the pod's debug console (handler {@code javakata-debug}; since issue 9 no
 * container can reach the agent's namespaces, so the console is how a test gets there). From there it tries to
 * replace a sibling container's directory, its rootfs and its volume's mount point with symlinks to a host
 * directory holding a tmpfs and a canary, and to pre-plant entries where the next container's directories will be
 * made; it makes a block device and a setuid file in a read-write hostPath. CRI then creates a new container and
 * stops and removes everything. The host's tmpfs stays mounted, the canaries stay, and the pod leaves nothing
 * behind (PrivateCri's leak check). A privileged container beside it shows what privileged means in the guest.
 */
@Tag("containerd")
@Tag("qemu")
@Tag("cri")
@Timeout(value = 420, unit = TimeUnit.SECONDS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ShareEscapeIT {

    private static final String SHARE = "/run/javakata/shared";
    private static final String POD = "share-escape";
    /** Markers around a script's output; the shell prints them, its echo of the input shows $((40+2)) instead. */
    private static final String BEGIN = "@@42-begin@@";
    private static final String END = "@@42-end@@";

    @RegisterExtension
    static final PrivateCri CRI = new PrivateCri();

    private static Path victim;
    private static Path volume;
    private static Pod pod;
    private static String attacker;
    private static String sibling;

    @BeforeAll
    static void setUp() throws Exception {
        victim = Files.createDirectories(CRI.containerd().dir().resolve("victim"));
        Files.writeString(victim.resolve("canary"), "host canary\n");
        Path tmpfs = Files.createDirectories(victim.resolve("tmpfs"));
        run("mount", "-t", "tmpfs", "-o", "size=1m", "jkit-victim", tmpfs.toString());
        Files.writeString(tmpfs.resolve("canary"), "tmpfs canary\n");
        volume = Files.createDirectories(CRI.containerd().dir().resolve("hostvol"));
        Files.writeString(volume.resolve("marker-hostvol"), "marker\n");

        NamespaceOption namespaces = PrivateCri.KUBELET_NAMESPACES;
        // The javakata-debug handler's configuration turns the debug console on (scripts/containerd.sh).
        pod = CRI.runPod(CRI.podConfig(POD, b -> b.setLinux(b.getLinux().toBuilder().setSecurityContext(
                LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(namespaces).setPrivileged(true)))),
                "javakata-debug");
        attacker = pod.run("attacker", b -> b.setLinux(b.getLinux().toBuilder().setSecurityContext(
                LinuxContainerSecurityContext.newBuilder().setPrivileged(true).setNamespaceOptions(namespaces))),
                "sleep", "3600");
        sibling = pod.run(pod.containerConfig("sibling", "sleep", "3600")
                .addMounts(Mount.newBuilder().setHostPath(volume.toString()).setContainerPath("/data")).build());
    }

    @AfterAll
    static void tearDown() throws Exception {
        if (pod != null) {
            pod.close();
        }
        if (victim != null) {
            run("umount", "-l", victim.resolve("tmpfs").toString());
        }
    }

    @Test
    @Order(1)
    void theAttackerIsRootInTheAgentsMountNamespaceAndSeesTheShare() {
        String listing = guest("ls " + SHARE);
        assertTrue(listing.contains(sibling) && listing.contains(attacker), "the share lists the pod's containers: "
                + listing);
        assertTrue(guest("ls " + SHARE + "/" + sibling + "/rootfs/bin").contains("busybox"), "the sibling's rootfs");
    }

    /** Issue 7 item 7: a privileged container is privileged in the guest only: it sees the guest's devices. */
    @Test
    @Order(1)
    void aPrivilegedContainerSeesTheGuestsDevicesNotTheHosts() throws IOException {
        List<String> hostDisks;
        try (var entries = Files.list(Path.of("/sys/block"))) {
            hostDisks = entries.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith("loop")
                    && !n.startsWith("ram")).toList();
        }
        String guestDisks = pod.execOk(attacker, "ls", "/sys/block");
        for (String disk : hostDisks) {
            assertFalse(("\n" + guestDisks + "\n").contains("\n" + disk + "\n"), "host disk " + disk
                    + " visible in a privileged container: " + guestDisks);
        }
        assertFalse(pod.execOk(attacker, "cat", "/proc/sys/kernel/random/boot_id").strip()
                .equals(Files.readString(Path.of("/proc/sys/kernel/random/boot_id")).strip()), "same kernel as the host");
    }

    @Test
    @Order(2)
    void nothingOfTheHostsTreeCanBeReplacedOrPlanted() {
        String s = SHARE + "/" + sibling;
        String v = victim.toString();
        String vol = volumeDirInGuest();
        List<String> attempts = List.of(
                "mv " + s + " " + s + ".moved",
                "mv " + s + "/rootfs " + s + "/rootfs.moved",
                "mv " + s + "/mounts " + s + "/mounts.moved",
                // Not recursive: inside a read-write volume the guest may delete what it likes; the entries
                // of mounts/ themselves (file binds such as /etc/hosts, and the volume dirs) must stay.
                "for f in " + s + "/mounts/*; do if [ -f $f ] && rm -f $f; then exit 0; fi; done; exit 1",
                "rmdir " + vol,
                "mv " + vol + " " + vol + ".moved",
                "ln -s " + v + " " + SHARE + "/planted",
                "mkdir " + SHARE + "/planted-dir",
                "ln -s " + v + " " + s + "/planted",
                "ln -s " + v + " " + s + "/mounts/planted",
                "touch " + SHARE + "/planted-file");
        List<String> allowed = new ArrayList<>();
        for (String attempt : attempts) {
            if (guestStatus(attempt) == 0) {
                allowed.add(attempt);
            }
        }
        assertEquals(List.of(), allowed, "the guest changed the tree the host works in");
        // Inside a container's own rootfs the guest may write anything; the host never walks there.
        assertEquals(0, guestStatus("ln -s " + v + " " + s + "/rootfs/escape && ln -s " + v + " " + s + "/rootfs/tmp/x"));
    }

    @Test
    @Order(3)
    void aDeviceNodeOrASetuidFileMadeInAHostPathIsNotUsableOnTheHost() throws IOException {
        String vol = volumeDirInGuest();
        guestStatus("mknod " + vol + "/blockdev b 7 0");
        guestStatus("mknod " + vol + "/chardev c 1 3");
        guestStatus("cp /bin/busybox " + vol + "/suid && chmod 4755 " + vol + "/suid");
        guestStatus("cp /bin/busybox " + vol + "/sgid && chmod 2755 " + vol + "/sgid");
        for (String name : List.of("blockdev", "chardev")) {
            Path node = volume.resolve(name);
            if (Files.exists(node, LinkOption.NOFOLLOW_LINKS)) {
                PosixFileAttributes attrs = Files.readAttributes(node, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                assertTrue(attrs.isRegularFile() || attrs.isDirectory(), name + " became a device node on the host");
            }
        }
        for (String name : List.of("suid", "sgid")) {
            Path file = volume.resolve(name);
            if (Files.exists(file)) {
                var perms = Files.getPosixFilePermissions(file);
                int mode = (int) Files.getAttribute(file, "unix:mode");
                int uid = (int) Files.getAttribute(file, "unix:uid");
                assertFalse((mode & 04000) != 0 && uid == 0, name + " is a setuid-root file on the host: mode "
                        + Integer.toOctalString(mode) + " " + perms);
                assertFalse((mode & 02000) != 0 && (int) Files.getAttribute(file, "unix:gid") == 0
                        && perms.contains(PosixFilePermission.GROUP_EXECUTE), name + " is setgid-root on the host");
            }
        }
    }

    @Test
    @Order(4)
    void aNewContainerAfterThePlantsIsCreatedAndEverythingTearsDownCleanly() throws Exception {
        String late = pod.run("late", "sleep", "3600");
        assertTrue(guest("ls " + SHARE).contains(late));
        pod.stopContainer(sibling, 2);
        pod.removeContainer(sibling);
        pod.stopContainer(late, 2);
        pod.removeContainer(late);
        pod.close();
        pod = null;

        assertEquals("host canary\n", Files.readString(victim.resolve("canary")));
        assertEquals("tmpfs canary\n", Files.readString(victim.resolve("tmpfs/canary")));
        List<String> victimMounts = mountPointsUnder(victim);
        assertEquals(List.of(victim.resolve("tmpfs").toString()), victimMounts, "the host's tmpfs stays mounted, alone");
        assertEquals("marker\n", Files.readString(volume.resolve("marker-hostvol")), "the hostPath keeps its data");
        assertEquals(List.of(), mountPointsUnder(volume), "nothing is mounted over the hostPath");
    }

    /** The sibling's hostPath volume as the attacker sees it in the share: the bind that holds the marker. */
    private static String volumeDirInGuest() {
        String dir = guest("for d in " + SHARE + "/" + sibling + "/mounts/*; do if [ -f $d/marker-hostvol ]; then echo $d; fi; done")
                .strip();
        assertTrue(dir.startsWith(SHARE + "/" + sibling + "/mounts/"), "the volume is in the share: '" + dir + "'");
        return dir;
    }

    /** Runs {@code script} as root in the guest's own namespaces; its stdout, which must exit 0. */
    private static String guest(String script) {
        Ctr.Result result = console(script);
        assertEquals(0, result.exitCode(), () -> script + ": " + result.describe());
        return output(result);
    }

    private static int guestStatus(String script) {
        return console(script).exitCode();
    }

    /**
     * {@code script} through the pod's debug console: written to a file by a here-document, then run between two
     * markers; the console exits with the shell's status.
     */
    private static Ctr.Result console(String script) {
        String session = "cat > /tmp/attack.sh <<'JKEOF'\n" + script + "\nJKEOF\n"
                + "echo @@$((40+2))-begin@@; sh /tmp/attack.sh; s=$?; echo @@$((40+2))-end@@; exit $s\n";
        return Ctr.execute(List.of("containerd-shim-javakata-v2", "console", POD), session, Duration.ofSeconds(60));
    }

    /** What the script printed: the console's terminal lines (CR LF) between the markers. */
    private static String output(Ctr.Result result) {
        String out = result.stdout().replace("\r\n", "\n");
        int begin = out.indexOf(BEGIN + "\n");
        int end = out.indexOf(END, Math.max(begin, 0));
        assertTrue(begin >= 0 && end > begin, () -> "no markers in the console's output: " + result.describe());
        return out.substring(begin + BEGIN.length() + 1, end);
    }

    private static List<String> mountPointsUnder(Path dir) throws IOException {
        List<String> points = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"), StandardCharsets.UTF_8)) {
            String point = line.split(" ")[4];
            if (point.startsWith(dir + "/") || point.equals(dir.toString())) {
                points.add(point);
            }
        }
        return points;
    }

    private static void run(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
            p.destroyForcibly();
            throw new IOException(String.join(" ", command) + " failed: "
                    + new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
        }
    }
}
