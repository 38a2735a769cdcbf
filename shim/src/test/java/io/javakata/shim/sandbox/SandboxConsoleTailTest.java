package io.javakata.shim.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The console tail of a boot error reads the VM console's ring, both files of it (its use: BootWatchTest). */
class SandboxConsoleTailTest {

    @TempDir
    Path dir;

    @Test
    void aTailRightAfterARotationStillShowsTheLinesBeforeIt() throws Exception {
        Path log = dir.resolve("console.log");
        Files.writeString(dir.resolve("console.log.1"), "x".repeat(5000) + "\n[    4.2] Kernel panic - not syncing: ");
        Files.writeString(log, "VFS: Unable to mount root fs\n");
        String tail = Sandbox.consoleTail(log);
        assertTrue(tail.endsWith("[    4.2] Kernel panic - not syncing: VFS: Unable to mount root fs"), tail);
        assertTrue(tail.length() <= 1500, "the tail is bounded: " + tail.length());
    }

    @Test
    void noConsoleGivesNoTail() {
        assertEquals("", Sandbox.consoleTail(dir.resolve("console.log")));
    }
}
