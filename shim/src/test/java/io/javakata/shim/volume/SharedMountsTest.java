package io.javakata.shim.volume;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javakata.shim.rootfs.Mounter;
import io.javakata.sys.Mounts;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;
import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Real bind mounts (needs root), all under a temporary directory. */
@Timeout(value = 20, unit = TimeUnit.SECONDS)
class SharedMountsTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String GUEST_DIR = "/run/javakata/shared/c1";

    @TempDir
    Path tmp;

    private Path host;
    private Path containerDir;

    @BeforeEach
    void setUp() throws IOException {
        host = Files.createDirectories(tmp.resolve("host"));
        containerDir = Files.createDirectories(tmp.resolve("shared/c1"));
    }

    @AfterEach
    void tearDown() throws IOException {
        Mounter.unmountUnder(tmp);
    }

    @Test
    void readWriteDirectoryIsSharedBothWays() throws IOException {
        Path volume = Files.createDirectories(host.resolve("rw"));
        Files.writeString(volume.resolve("in.txt"), "from host");

        try (SharedMounts exposed = expose(bind("/data", volume, "rbind", "rprivate", "rw"))) {
            Path target = containerDir.resolve("mounts/0");
            assertTrue(Mounts.isMountPoint(target));
            assertEquals("from host", Files.readString(target.resolve("in.txt")));
            Files.writeString(target.resolve("out.txt"), "from guest side");
            assertEquals("from guest side", Files.readString(volume.resolve("out.txt")), "writes reach the host");

            ObjectNode guest = exposed.guestMounts().get(0);
            assertEquals(GUEST_DIR + "/mounts/0", guest.path("source").asText());
            assertEquals("/data", guest.path("destination").asText());
            assertEquals("[\"rbind\",\"rprivate\",\"rw\"]", guest.path("options").toString(), "options kept");
        }
        assertFalse(Files.exists(containerDir.resolve("mounts")), "close unmounts and removes mounts/");
        assertTrue(Files.exists(volume.resolve("out.txt")), "the volume itself is left alone");
    }

    @Test
    void readOnlyDirectoryAndFileRefuseWrites() throws IOException {
        Path volume = Files.createDirectories(host.resolve("ro"));
        Files.writeString(volume.resolve("data.txt"), "ro-content");
        Path file = Files.writeString(host.resolve("hosts"), "127.0.0.1 localhost\n");

        try (SharedMounts exposed = expose(bind("/ro", volume, "rbind", "ro"), bind("/etc/hosts", file, "rbind", "ro"))) {
            Path dir = containerDir.resolve("mounts/0");
            Path fileTarget = containerDir.resolve("mounts/1");
            assertEquals("ro-content", Files.readString(dir.resolve("data.txt")));
            assertTrue(Files.isRegularFile(fileTarget), "a file is bound on a file");
            assertEquals("127.0.0.1 localhost\n", Files.readString(fileTarget));
            FileSystemException dirWrite = assertThrows(FileSystemException.class,
                    () -> Files.writeString(dir.resolve("new.txt"), "x"));
            assertTrue(String.valueOf(dirWrite.getReason()).contains("Read-only"), dirWrite.toString());
            assertThrows(FileSystemException.class, () -> Files.writeString(fileTarget, "x"));
            assertFalse(Files.exists(volume.resolve("new.txt")));
            assertEquals(2, exposed.guestMounts().size());
        }
    }

    @Test
    void recursiveBindCarriesSubmountsAndAllAreReleased() throws IOException {
        Path volume = Files.createDirectories(host.resolve("vol"));
        Path sub = Files.createDirectories(volume.resolve("sub"));
        Path subSource = Files.createDirectories(host.resolve("subsource"));
        Files.writeString(subSource.resolve("deep.txt"), "deep");
        Mounts.mount(subSource.toString(), sub.toString(), null, Mounts.MS_BIND, null);

        try (SharedMounts exposed = expose(bind("/vol", volume, "rbind", "rw"))) {
            assertEquals("deep", Files.readString(containerDir.resolve("mounts/0/sub/deep.txt")));
            assertEquals(1, exposed.guestMounts().size());
        }
        assertFalse(Files.exists(containerDir.resolve("mounts")));
        assertTrue(Mounts.isMountPoint(sub), "the host's own submount stays");
        Mounter.unmount(sub);
    }

    @Test
    void missingSourceIsInvalidArgumentAndLeavesNothing() throws IOException {
        Path volume = Files.createDirectories(host.resolve("ok"));
        RuntimeStatusException e = assertThrows(RuntimeStatusException.class,
                () -> expose(bind("/ok", volume, "rbind"), bind("/gone", host.resolve("gone"), "rbind")));
        assertEquals(Code.INVALID_ARGUMENT, e.code());
        assertEquals("mount 1 (destination /gone): source " + host.resolve("gone") + " does not exist on the host",
                e.getMessage());
        assertFalse(Files.exists(containerDir.resolve("mounts")), "the first bind was undone");
        assertFalse(Mounts.isMountPoint(containerDir.resolve("mounts/0")));
    }

    @Test
    void nonBindMountsAndRelativeSourcesAreLeftToTheGuest() throws IOException {
        ObjectNode proc = JSON.createObjectNode().put("destination", "/proc").put("type", "proc").put("source", "proc");
        ObjectNode tmpfs = JSON.createObjectNode().put("destination", "/dev").put("type", "tmpfs").put("source", "tmpfs");
        try (SharedMounts exposed = expose(proc, tmpfs)) {
            assertTrue(exposed.guestMounts().isEmpty());
            assertTrue(exposed.createRuntimeHooks().isEmpty());
        }
    }

    @Test
    void shmBecomesAGuestTmpfsOrThePodsShm() throws IOException {
        Path shm = Files.createDirectories(host.resolve("shm"));
        Mounts.mount("shm", shm.toString(), "tmpfs", 0, "size=8m");
        ObjectNode shmMount = bind("/dev/shm", shm, "rbind", "ro");

        try (SharedMounts own = SharedMounts.expose(spec(shmMount), containerDir, GUEST_DIR, SharedMounts.Shm.OWN)) {
            ObjectNode guest = own.guestMounts().get(0);
            assertEquals("tmpfs", guest.path("type").asText());
            assertEquals("[\"nosuid\",\"noexec\",\"nodev\",\"mode=1777\",\"size=8388608\"]",
                    guest.path("options").toString(), "sized as the host's tmpfs");
            assertFalse(Files.exists(containerDir.resolve("mounts")), "nothing is bound for shm");
        }
        try (SharedMounts pod = SharedMounts.expose(spec(shmMount), containerDir, GUEST_DIR,
                SharedMounts.Shm.POD_SANDBOX)) {
            ObjectNode guest = pod.guestMounts().get(0);
            assertEquals("{\"destination\":\"/dev/shm\",\"options\":[\"rbind\",\"ro\"],\"type\":\"bind\","
                    + "\"source\":\"/dev/shm\"}", guest.toString());
            assertEquals(List.of("{\"path\":\"/bin/busybox\",\"args\":[\"mount\",\"-o\",\"remount,size=8388608\","
                    + "\"/dev/shm\"],\"timeout\":10}"), pod.createRuntimeHooks().stream().map(Object::toString).toList());
        }
        try (SharedMounts member = SharedMounts.expose(spec(bind("/dev/shm", shm, "rbind", "rw")), containerDir,
                GUEST_DIR, SharedMounts.Shm.POD)) {
            assertEquals("/dev/shm", member.guestMounts().get(0).path("source").asText());
            assertTrue(member.createRuntimeHooks().isEmpty(), "only the sandbox container resizes the pod's shm");
        }
    }

    @Test
    void releaseOfAContainerWithoutVolumesDoesNothing() throws IOException {
        SharedMounts.release(containerDir);
        assertTrue(Files.isDirectory(containerDir));
    }

    private SharedMounts expose(ObjectNode... mounts) {
        return SharedMounts.expose(spec(mounts), containerDir, GUEST_DIR, SharedMounts.Shm.OWN);
    }

    private static ObjectNode spec(ObjectNode... mounts) {
        ObjectNode spec = JSON.createObjectNode();
        ArrayNode array = spec.putArray("mounts");
        for (ObjectNode m : mounts) {
            array.add(m);
        }
        return spec;
    }

    private static ObjectNode bind(String destination, Path source, String... options) {
        ObjectNode mount = JSON.createObjectNode().put("destination", destination).put("type", "bind")
                .put("source", source.toString());
        ArrayNode array = mount.putArray("options");
        for (String o : options) {
            array.add(o);
        }
        return mount;
    }
}
