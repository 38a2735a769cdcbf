package io.javakata.sys;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Runs as root (make test does): real openat2, open_tree, mount_setattr and move_mount on tmpfs. */
@Timeout(20)
class MountFdsTest {

    private static final int ELOOP = 40;
    private static final int EXDEV = 18;
    private static final int EEXIST = 17;

    @TempDir
    Path dir;

    @Test
    void openBeneathRefusesSymlinksDotDotAndMountCrossings() throws Exception {
        Path outside = Files.createDirectory(dir.resolve("outside"));
        Path root = Files.createDirectory(dir.resolve("root"));
        Files.createDirectories(root.resolve("a/b"));
        Files.createSymbolicLink(root.resolve("a/link"), outside);
        Files.createSymbolicLink(root.resolve("rel"), Path.of("a"));
        Path mnt = Files.createDirectory(root.resolve("mnt"));
        Mounts.mount("tmpfs", mnt.toString(), "tmpfs", 0, "size=1m");
        try (MountFds.Fd fd = MountFds.openDirectory(root)) {
            try (MountFds.Fd ok = MountFds.openBeneath(fd, "a/b", true)) {
                assertTrue(ok.value() > 2);
                assertEquals(root.resolve("a/b").toRealPath(), Path.of(MountFds.procPath(ok)).toRealPath());
            }
            // O_NOFOLLOW on a last-component symlink gives ELOOP, or ENOTDIR with O_DIRECTORY: refused either way.
            assertThrows(ErrnoException.class, () -> MountFds.openBeneath(fd, "a/link", true));
            Files.createDirectory(outside.resolve("x"));
            assertEquals(ELOOP, assertThrows(ErrnoException.class, () -> MountFds.openBeneath(fd, "a/link/x", true)).errno());
            assertEquals(ELOOP, assertThrows(ErrnoException.class, () -> MountFds.openBeneath(fd, "rel/b", true)).errno());
            assertEquals(EXDEV, assertThrows(ErrnoException.class, () -> MountFds.openBeneath(fd, "../outside", true)).errno());
            assertEquals(EXDEV, assertThrows(ErrnoException.class, () -> MountFds.openBeneath(fd, "mnt", true)).errno());
        } finally {
            Mounts.unmount(mnt.toString(), 0);
        }
    }

    @Test
    void mkdirInNeverFollowsAPlantedSymlink() throws Exception {
        Path outside = Files.createDirectory(dir.resolve("outside"));
        Path root = Files.createDirectory(dir.resolve("root"));
        Files.createSymbolicLink(root.resolve("planted"), outside);
        try (MountFds.Fd fd = MountFds.openDirectory(root)) {
            MountFds.mkdirIn(fd, "fresh", 0700);
            assertTrue(Files.isDirectory(root.resolve("fresh")));
            assertEquals(EEXIST, assertThrows(ErrnoException.class, () -> MountFds.mkdirIn(fd, "planted", 0700)).errno());
            assertThrows(IllegalArgumentException.class, () -> MountFds.mkdirIn(fd, "../x", 0700));
        }
        try (var entries = Files.list(outside)) {
            assertEquals(0, entries.count());
        }
    }

    /**
     * A read-only bind made detached reaches a slave copy read-only: a bind then a remount would leave
     * the copy that propagated at bind time writable.
     */
    @Test
    void detachedReadOnlyBindPropagatesReadOnly() throws Exception {
        Path source = Files.createDirectory(dir.resolve("source"));
        Files.writeString(source.resolve("f"), "x");
        Path parent = Files.createDirectory(dir.resolve("parent"));
        Path slave = Files.createDirectory(dir.resolve("slave"));
        Mounts.mount(parent.toString(), parent.toString(), null, Mounts.MS_BIND, null);
        try {
            Mounts.mount(null, parent.toString(), null, Mounts.MS_PRIVATE, null);
            Mounts.mount(null, parent.toString(), null, Mounts.MS_SHARED, null);
            Mounts.mount(parent.toString(), slave.toString(), null, Mounts.MS_BIND, null);
            Mounts.mount(null, slave.toString(), null, Mounts.MS_SLAVE, null);
            Files.createDirectory(parent.resolve("vol"));
            try (MountFds.Fd tree = MountFds.cloneTree(source, false);
                 MountFds.Fd parentFd = MountFds.openDirectory(parent);
                 MountFds.Fd target = MountFds.openBeneath(parentFd, "vol", true)) {
                MountFds.setAttributes(tree, MountFds.MOUNT_ATTR_RDONLY | MountFds.MOUNT_ATTR_NOSUID
                        | MountFds.MOUNT_ATTR_NODEV, Mounts.MS_PRIVATE, false);
                MountFds.moveMount(tree, target);
            }
            assertEquals("x", Files.readString(slave.resolve("vol/f")), "the bind propagated to the slave");
            assertReadOnly(parent.resolve("vol/f"));
            assertReadOnly(slave.resolve("vol/f"));
            Mounts.unmount(parent.resolve("vol").toString(), MountFds.UMOUNT_NOFOLLOW);
            assertFalse(Files.exists(slave.resolve("vol/f")), "the unmount propagated too");
        } finally {
            Mounts.unmount(slave.toString(), Mounts.MNT_DETACH);
            Mounts.unmount(parent.toString(), Mounts.MNT_DETACH);
        }
    }

    @Test
    void unmountNoFollowRefusesASymlink() throws Exception {
        Path target = Files.createDirectory(dir.resolve("target"));
        Path link = Files.createSymbolicLink(dir.resolve("link"), target);
        Mounts.mount("tmpfs", target.toString(), "tmpfs", 0, "size=1m");
        try {
            assertThrows(ErrnoException.class, () -> Mounts.unmount(link.toString(), MountFds.UMOUNT_NOFOLLOW));
            assertTrue(Mounts.isMountPoint(target));
        } finally {
            Mounts.unmount(target.toString(), 0);
        }
    }

    private static void assertReadOnly(Path file) {
        FileSystemException e = assertThrows(FileSystemException.class, () -> Files.writeString(file, "y"));
        assertTrue(e.getMessage().contains("Read-only file system") || e instanceof AccessDeniedException,
                e.getMessage());
    }

}
