package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.javakata.it.cri.v1.ContainerConfig;
import io.javakata.it.cri.v1.DNSConfig;
import io.javakata.it.cri.v1.Mount;

/**
 * Issue 3 item 8: hostPath files and directories (ro and rw), an emptyDir shared by two containers, the files CRI
 * adds (/etc/hosts, /etc/resolv.conf, /etc/hostname) and the kubelet's /dev/termination-log, with their content
 * and mode; a symlink in a volume that points outside it exposes nothing of the host; the container sees neither
 * the host's processes nor its files nor its devices.
 */
@Tag("containerd")
@Tag("qemu")
@Tag("cri")
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class VolumesIT {

    private static final Duration WAIT = Duration.ofSeconds(60);

    @RegisterExtension
    static final PrivateCri CRI = new PrivateCri();

    private static Path host;
    private static Pod pod;
    private static String main;
    private static String peer;

    private static Mount mount(Path hostPath, String containerPath, boolean readonly) {
        return Mount.newBuilder().setHostPath(hostPath.toString()).setContainerPath(containerPath).setReadonly(readonly).build();
    }

    @BeforeAll
    static void pod() throws Exception {
        host = CRI.containerd().dir().resolve("volumes");
        Files.createDirectories(host.resolve("dir-ro"));
        Files.createDirectories(host.resolve("dir-rw"));
        Files.createDirectories(host.resolve("empty-dir"));
        Files.writeString(host.resolve("file-ro.txt"), "read only\n");
        Files.writeString(host.resolve("file-rw.txt"), "read write\n");
        Files.setPosixFilePermissions(host.resolve("file-ro.txt"), PosixFilePermissions.fromString("rw-r-----"));
        Files.writeString(host.resolve("dir-ro/inside.txt"), "in ro dir\n");
        Files.writeString(host.resolve("secret.txt"), "host secret\n");
        Files.createSymbolicLink(host.resolve("dir-rw/absolute-escape"), host.resolve("secret.txt"));
        Files.createSymbolicLink(host.resolve("dir-rw/relative-escape"), Path.of("../secret.txt"));
        Files.createSymbolicLink(host.resolve("dir-rw/root-escape"), Path.of("/"));
        Files.writeString(host.resolve("termination-log"), "");

        pod = CRI.runPod(CRI.podConfig("volumes-it", b -> b.setDnsConfig(DNSConfig.newBuilder()
                .addServers("10.213.0.10").addSearches("jkit.svc.cluster.local").addOptions("ndots:5"))), PrivateCri.HANDLER);
        ContainerConfig.Builder config = pod.containerConfig("main", "sleep", "3600")
                .addMounts(mount(host.resolve("file-ro.txt"), "/mnt/file-ro.txt", true))
                .addMounts(mount(host.resolve("file-rw.txt"), "/mnt/file-rw.txt", false))
                .addMounts(mount(host.resolve("dir-ro"), "/mnt/ro", true))
                .addMounts(mount(host.resolve("dir-rw"), "/mnt/rw", false))
                .addMounts(mount(host.resolve("empty-dir"), "/cache", false))
                .addMounts(mount(host.resolve("termination-log"), "/dev/termination-log", false));
        main = pod.run(config.build());
        peer = pod.run(pod.containerConfig("peer", "sleep", "3600").addMounts(mount(host.resolve("empty-dir"), "/cache", false)).build());
    }

    @AfterAll
    static void teardown() {
        if (pod != null) {
            pod.close();
        }
    }

    @Test
    void hostPathFilesAndDirectoriesHaveTheirContentAndMode() {
        assertEquals("read only\n", pod.execOk(main, "cat", "/mnt/file-ro.txt"));
        assertEquals("640", pod.execOk(main, "stat", "-c", "%a", "/mnt/file-ro.txt").strip());
        // (another test may have appended to it)
        assertTrue(pod.execOk(main, "cat", "/mnt/file-rw.txt").startsWith("read write\n"));
        assertEquals("in ro dir\n", pod.execOk(main, "cat", "/mnt/ro/inside.txt"));
    }

    @Test
    void writesToRwVolumesReachTheHost() throws Exception {
        pod.execOk(main, "sh", "-c", "echo from the container > /mnt/rw/new.txt; echo appended >> /mnt/file-rw.txt");
        assertEquals("from the container\n", Files.readString(host.resolve("dir-rw/new.txt")));
        assertEquals("read write\nappended\n", Files.readString(host.resolve("file-rw.txt")));
        // And the other way round: a file the host writes shows up in the container.
        Files.writeString(host.resolve("dir-rw/from-host.txt"), "from the host\n");
        assertEquals("from the host\n", pod.execOk(main, "cat", "/mnt/rw/from-host.txt"));
    }

    @Test
    void readOnlyVolumesRefuseWrites() {
        for (String target : List.of("/mnt/ro/new.txt", "/mnt/file-ro.txt")) {
            var response = pod.execSync(main, WAIT, "sh", "-c", "echo x >> " + target);
            assertNotEquals(0, response.getExitCode(), () -> "writing " + target + " succeeded");
            assertTrue(response.getStderr().toStringUtf8().contains("Read-only file system"), response.getStderr().toStringUtf8());
        }
        assertFalse(Files.exists(host.resolve("dir-ro/new.txt")));
    }

    @Test
    void anEmptyDirIsSharedBetweenContainers() {
        pod.execOk(main, "sh", "-c", "echo shared > /cache/note");
        assertEquals("shared\n", pod.execOk(peer, "cat", "/cache/note"));
    }

    @Test
    void criFilesHaveThePodsContent() {
        assertEquals("volumes-it\n", pod.execOk(main, "cat", "/etc/hostname"));
        String resolv = pod.execOk(main, "cat", "/etc/resolv.conf");
        assertTrue(resolv.contains("nameserver 10.213.0.10") && resolv.contains("search jkit.svc.cluster.local")
                && resolv.contains("options ndots:5"), resolv);
        String hosts = pod.execOk(main, "cat", "/etc/hosts");
        assertTrue(hosts.contains("127.0.0.1") && hosts.contains("localhost"), hosts);
        for (String file : List.of("/etc/hostname", "/etc/resolv.conf", "/etc/hosts")) {
            assertEquals("644", pod.execOk(main, "stat", "-c", "%a", file).strip(), file);
        }
    }

    @Test
    void theTerminationLogReachesTheHost() throws Exception {
        pod.execOk(main, "sh", "-c", "echo goodbye > /dev/termination-log");
        assertEquals("goodbye\n", Files.readString(host.resolve("termination-log")));
    }

    @Test
    void symlinksInAVolumeDoNotExposeHostFiles() {
        for (String link : List.of("/mnt/rw/absolute-escape", "/mnt/rw/relative-escape")) {
            var response = pod.execSync(main, WAIT, "cat", link);
            assertFalse(response.getStdout().toStringUtf8().contains("host secret"), link + " shows the host's file");
        }
        // A link to / lands on the container's root, not the host's.
        String listing = pod.execOk(main, "ls", "/mnt/rw/root-escape/");
        assertFalse(listing.contains("usr") && listing.contains("home"), () -> "the host's / through a link: " + listing);
        assertEquals(1, pod.execSync(main, WAIT, "cat", host.resolve("secret.txt").toString()).getExitCode(),
                "the host's file at its host path");
    }

    @Test
    void theContainerSeesNeitherHostProcessesNorHostDevices() throws Exception {
        String comms = pod.execOk(main, "sh", "-c", "cat /proc/[0-9]*/comm");
        for (String hostOnly : List.of("containerd", "qemu-system-x86", "virtiofsd", "java", "systemd")) {
            assertFalse(comms.lines().anyMatch(c -> c.startsWith(hostOnly)), () -> hostOnly + " is visible: " + comms);
        }
        long processes = comms.lines().count();
        assertTrue(processes <= 5, () -> "processes visible in the pod: " + comms);
        String hostPartitions = Files.readString(Path.of("/proc/partitions"));
        String partitions = pod.execOk(main, "cat", "/proc/partitions");
        assertNotEquals(hostPartitions, partitions, "the container sees the host's block devices");
        String devices = pod.execOk(main, "ls", "/dev");
        assertFalse(devices.contains("kvm") || devices.contains("vhost"), devices);
    }
}
