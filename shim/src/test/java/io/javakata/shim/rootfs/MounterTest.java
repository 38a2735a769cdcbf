package io.javakata.shim.rootfs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.javakata.sys.Mounts;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Real mounts (needs root), all under a temporary directory. */
@Timeout(value = 20, unit = TimeUnit.SECONDS)
class MounterTest {

    @TempDir
    Path tmp;

    private Path image;
    private Path target;

    @BeforeEach
    void setUp() throws IOException {
        image = Files.createDirectories(tmp.resolve("image"));
        Files.writeString(image.resolve("file"), "data");
        target = Files.createDirectories(tmp.resolve("target"));
    }

    @AfterEach
    void tearDown() throws IOException {
        Mounter.unmount(target);
        for (Path p : List.of(tmp.resolve("upper"), tmp.resolve("work"))) {
            if (Files.exists(p)) {
                Mounts.deleteTree(p);
            }
        }
    }

    @Test
    void readOnlyBindIsReadOnly() throws IOException {
        Mounter.mountRootfs(List.of(new RootfsMount("bind", image.toString(), List.of("rbind", "ro"))), target);
        assertEquals("data", Files.readString(target.resolve("file")));
        assertThrows(IOException.class, () -> Files.writeString(target.resolve("new"), "x"));
        Mounter.unmount(target);
        assertFalse(Mounts.isMountPoint(target));
    }

    @Test
    void overlayTakesItsOptionsAsData() throws IOException {
        Path upper = Files.createDirectories(tmp.resolve("upper"));
        Path work = Files.createDirectories(tmp.resolve("work"));
        Mounter.mountRootfs(List.of(new RootfsMount("overlay", "overlay",
                List.of("index=off", "workdir=" + work, "upperdir=" + upper, "lowerdir=" + image))), target);
        Files.writeString(target.resolve("new"), "written");
        assertEquals("written", Files.readString(upper.resolve("new")), "writes land in upperdir");
        assertFalse(Files.exists(image.resolve("new")));
    }

    @Test
    void moreThanOneMountIsRefused() {
        RootfsMount m = new RootfsMount("bind", image.toString(), List.of("rbind"));
        RuntimeStatusException e = assertThrows(RuntimeStatusException.class,
                () -> Mounter.mountRootfs(List.of(m, m), target));
        assertEquals(Code.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("2 mounts"), e.getMessage());
    }

    @Test
    void deleteTreeRefusesToEnterAMount() throws IOException {
        Mounter.mountRootfs(List.of(new RootfsMount("bind", image.toString(), List.of("rbind"))), target);
        IOException e = assertThrows(IOException.class, () -> Mounts.deleteTree(tmp));
        assertTrue(e.getMessage().contains("still a mount point"), e.getMessage());
        assertTrue(Files.exists(image.resolve("file")), "the image is untouched");
    }

    /**
     * The share the guest sees is read-only: nothing can be renamed, replaced or added in the tree the
     * host works in, while a container rootfs mounted under mounts/ later shows up writable, and a
     * read-only volume bind shows up read-only.
     */
    @Test
    void shareIsAReadOnlyViewThatReceivesEachMount() throws IOException {
        Path mounts = Files.createDirectories(tmp.resolve("sb/mounts"));
        Path shared = Files.createDirectories(tmp.resolve("sb/shared"));
        Mounter.makeShare(mounts, shared);
        try {
            Path rootfs = Files.createDirectories(mounts.resolve("c1/rootfs"));
            Mounter.mountRootfs(List.of(new RootfsMount("bind", image.toString(), List.of("rbind", "rw"))), rootfs);
            Path volume = Files.createDirectories(mounts.resolve("c1/mounts/0"));
            Mounter.bind(image, false, io.javakata.sys.MountFds.MOUNT_ATTR_RDONLY, volume);

            assertEquals("data", Files.readString(shared.resolve("c1/rootfs/file")));
            Files.writeString(shared.resolve("c1/rootfs/new"), "rootfs is writable");
            assertThrows(IOException.class, () -> Files.writeString(shared.resolve("c1/mounts/0/x"), "y"),
                    "a read-only volume stays read-only through the share");
            assertThrows(IOException.class, () -> Files.move(shared.resolve("c1"), shared.resolve("moved")));
            assertThrows(IOException.class, () -> Files.createSymbolicLink(shared.resolve("c2"), tmp));
            assertThrows(IOException.class, () -> Files.delete(shared.resolve("c1/mounts/0")));

            Mounter.unmountUnder(mounts.resolve("c1"));
            assertFalse(Mounts.isMountPoint(shared.resolve("c1/rootfs")), "the unmount reached the share");
            assertTrue(Files.exists(image.resolve("new")), "the write went to the image dir through the bind");
        } finally {
            Mounter.unmountUnder(mounts);
            Mounter.unmountUnder(shared);
        }
        assertFalse(Mounts.isMountPoint(shared));
        assertFalse(Mounts.isMountPoint(mounts));
    }
}
