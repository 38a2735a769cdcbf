package io.javakata.guest.container;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import io.javakata.guest.ReaperLoop;
import io.javakata.guest.TestProcesses;

/** A runc that never answers is killed at the timeout, with what it started ({@code runc init}, a hook). */
@Timeout(30)
class OciCliTimeoutTest {

    @RegisterExtension
    static final ReaperLoop REAPER = new ReaperLoop();

    @TempDir
    Path tmp;

    private final String marker = TestProcesses.sleepMarker();

    @AfterEach
    void killLeftovers() {
        TestProcesses.killSleepers(marker);
    }

    @Test
    void hungRuncIsKilledWithItsChildren() throws IOException {
        Path hung = tmp.resolve("runc");
        Files.writeString(hung, "#!/bin/sh\nsleep " + marker + " &\nwait\n");
        hung.toFile().setExecutable(true);
        OciCli runc = new OciCli(hung, tmp.resolve("state"), REAPER.reaper(), Duration.ofMillis(300));
        long start = System.nanoTime();
        var e = assertThrows(IOException.class, () -> runc.start("c1", tmp));
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        assertEquals("runc start c1: still running after 300 ms; killed", e.getMessage());
        assertTrue(took.compareTo(Duration.ofSeconds(3)) < 0, () -> "reported after " + took);
        assertEquals(List.of(), TestProcesses.sleepers(marker), "what runc started is killed with it");
    }
}
