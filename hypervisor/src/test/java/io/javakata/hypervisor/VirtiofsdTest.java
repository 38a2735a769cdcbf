package io.javakata.hypervisor;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Runs the real C virtiofsd shipped with QEMU 7.2 (needs root, which these machines have). */
@Timeout(30)
class VirtiofsdTest {

    private static final Path BINARY = Path.of("/usr/lib/qemu/virtiofsd");
    private static final Duration T = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    @Test
    void startsListeningAndCloseLeavesNoProcessAndNoSocket() throws Exception {
        Path shared = Files.createDirectory(dir.resolve("shared"));
        Path socket = dir.resolve("virtiofsd.sock");
        Path log = dir.resolve("virtiofsd.log");
        Virtiofsd virtiofsd = Virtiofsd.start(BINARY, socket, shared, "auto", log, T);
        ProcessHandle handle = ProcessHandle.of(virtiofsd.pid()).orElseThrow();
        // With sandbox=namespace the daemon forks a child into new namespaces: it must go too.
        List<ProcessHandle> tree = handle.descendants().toList();
        try {
            assertTrue(handle.isAlive());
            assertTrue(Files.exists(socket), "socket " + socket);
            List<String> args = handle.info().arguments().map(Arrays::asList).orElse(List.of());
            assertTrue(args.contains("sandbox=namespace"), args.toString());
            assertTrue(args.contains("modcaps=-mknod:-setfcap"), args.toString());
        } finally {
            virtiofsd.close();
        }
        assertFalse(handle.isAlive(), "virtiofsd still running");
        tree.forEach(child -> assertFalse(child.isAlive(), "virtiofsd child " + child.pid() + " still running"));
        assertFalse(Files.exists(socket), "socket left behind");
        // onExit() completes on the JDK's reaper thread, possibly just after isAlive() turned false.
        assertTrue(virtiofsd.onExit().get(5, java.util.concurrent.TimeUnit.SECONDS) != null);
        virtiofsd.close(); // idempotent
    }

    @Test
    void missingSharedDirectoryFailsBeforeLaunching() {
        IOException e = assertThrows(IOException.class, () -> Virtiofsd.start(BINARY, dir.resolve("v.sock"),
                dir.resolve("absent"), "auto", dir.resolve("log"), T));
        assertEquals("virtiofsd: shared directory " + dir.resolve("absent") + " does not exist", e.getMessage());
    }

    @Test
    void anEarlyExitIsReportedWithVirtiofsdsOwnWords() throws IOException {
        Path shared = Files.createDirectory(dir.resolve("shared"));
        Path socket = dir.resolve("deeper/than/exists/v.sock");
        IOException e = assertThrows(IOException.class, () -> Virtiofsd.start(BINARY, socket, shared, "auto",
                dir.resolve("virtiofsd.log"), T));
        assertTrue(e.getMessage().startsWith("virtiofsd exited with code"), e.getMessage());
        assertTrue(e.getMessage().contains(Files.readString(dir.resolve("virtiofsd.log")).strip().lines()
                .reduce((a, b) -> b).orElseThrow()), e.getMessage());
        assertFalse(Files.exists(socket));
    }

    @Test
    void badCacheModeIsRefused() {
        var e = assertThrows(IllegalArgumentException.class, () -> Virtiofsd.start(BINARY, dir.resolve("v.sock"),
                dir, "sometimes", dir.resolve("log"), T));
        assertEquals("cache=sometimes: must be auto, always or none", e.getMessage());
    }
}
