package io.javakata.sys;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(20)
class MountsTest {

    @TempDir
    Path dir;

    @Test
    void tmpfsMountsAndUnmounts() throws Exception {
        Path target = Files.createDirectory(dir.resolve("with space"));
        assertFalse(Mounts.isMountPoint(target));
        Mounts.mount("tmpfs", target.toString(), "tmpfs", Mounts.MS_NOSUID | Mounts.MS_NODEV, "size=1m");
        try {
            assertTrue(Mounts.isMountPoint(target), "mountinfo escapes the space as \\040");
            Files.writeString(target.resolve("f"), "x");
        } finally {
            Mounts.unmount(target.toString(), 0);
        }
        assertFalse(Mounts.isMountPoint(target));
        assertFalse(Files.exists(target.resolve("f")), "the file lived on the tmpfs");
    }

    @Test
    void deleteTreeRemovesEverythingButFollowsNoLink() throws Exception {
        Path outside = Files.createDirectory(dir.resolve("outside"));
        Files.writeString(outside.resolve("keep"), "x");
        Path tree = Files.createDirectories(dir.resolve("tree/a/b"));
        Files.writeString(tree.resolve("f"), "x");
        Files.createSymbolicLink(dir.resolve("tree/a/link-to-outside"), outside);
        Files.createSymbolicLink(dir.resolve("tree/dangling"), dir.resolve("nowhere"));
        Mounts.deleteTree(dir.resolve("tree"));
        assertFalse(Files.exists(dir.resolve("tree")));
        assertTrue(Files.exists(outside.resolve("keep")), "what a link pointed to is untouched");
        Mounts.deleteTree(dir.resolve("tree")); // gone already: nothing to do
    }

    @Test
    void deleteTreeStopsAtAMountAndLeavesItsContents() throws Exception {
        Path mountPoint = Files.createDirectories(dir.resolve("tree/with space/rootfs"));
        Mounts.mount("tmpfs", mountPoint.toString(), "tmpfs", Mounts.MS_NOSUID | Mounts.MS_NODEV, "size=1m");
        try {
            Files.writeString(mountPoint.resolve("image-file"), "x");
            java.io.IOException e = assertThrows(java.io.IOException.class, () -> Mounts.deleteTree(dir.resolve("tree")));
            assertTrue(e.getMessage().contains(mountPoint + " is still a mount point"), e.getMessage());
            assertTrue(Files.exists(mountPoint.resolve("image-file")), "nothing under the mount is deleted");
        } finally {
            Mounts.unmount(mountPoint.toString(), 0);
        }
        Mounts.deleteTree(dir.resolve("tree"));
        assertFalse(Files.exists(dir.resolve("tree")));
    }

    @Test
    void rootIsAMountPointAndAMissingPathIsNot() throws Exception {
        assertTrue(Mounts.isMountPoint(Path.of("/")));
        assertFalse(Mounts.isMountPoint(dir.resolve("missing")));
    }

    @Test
    void failureNamesCallErrnoAndText() {
        ErrnoException e = assertThrows(ErrnoException.class,
                () -> Mounts.mount("overlay", dir.resolve("missing").toString(), "overlay", 0, null));
        assertEquals(2, e.errno());
        assertEquals("mount(overlay -> " + dir.resolve("missing") + ") failed: errno 2 ENOENT (No such file or directory)",
                e.getMessage());
    }

    @Test
    void unmountOfNonMountIsEinval() {
        ErrnoException e = assertThrows(ErrnoException.class, () -> Mounts.unmount(dir.toString(), 0));
        assertEquals(22, e.errno());
    }

    @Test
    void unescapeDecodesOctal() {
        assertEquals("/a b\tc\\d", Mounts.unescape("/a\\040b\\011c\\134d"));
        assertEquals("/plain", Mounts.unescape("/plain"));
    }
}
