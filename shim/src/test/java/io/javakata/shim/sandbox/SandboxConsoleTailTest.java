package io.javakata.shim.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.javakata.hypervisor.AgentEndpoint;
import io.javakata.shim.agent.AgentDialer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The console tail of a boot error reads the VM console's ring, both files of it; a failed dial carries it too. */
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
    void anAgentThatNeverListenedFailsTheDialWithTheConsoleTail() throws Exception {
        Path log = dir.resolve("console.log");
        Files.writeString(log, "[   31.0] Run /init as init process\n[   95.2] rcu: INFO: rcu_sched self-detected stall\n");
        AgentDialer refusing = (endpoint, timeout, giveUp) -> {
            throw new IOException("connect hvsock:" + endpoint + ": gave up after 3 attempts");
        };
        var e = assertThrows(IOException.class, () -> Sandbox.dialAgent(new BootWatch(BootWatchTest.runningVm()), refusing,
                new AgentEndpoint.HybridVsock(dir.resolve("hvsock.sock"), 1024), log, Duration.ofSeconds(1)));
        assertTrue(e.getMessage().startsWith("connect hvsock:"), e.getMessage());
        assertTrue(e.getMessage().endsWith("VM console ends with:\n[   31.0] Run /init as init process\n"
                + "[   95.2] rcu: INFO: rcu_sched self-detected stall"), e.getMessage());
    }

    @Test
    void aDialThatFailsBeforeTheConsoleHasAnythingKeepsItsMessage() {
        IOException refused = new IOException("connect serial:/x: gave up");
        AgentDialer refusing = (endpoint, timeout, giveUp) -> {
            throw refused;
        };
        var e = assertThrows(IOException.class, () -> Sandbox.dialAgent(new BootWatch(BootWatchTest.runningVm()), refusing,
                new AgentEndpoint.HybridVsock(dir.resolve("hvsock.sock"), 1024), dir.resolve("console.log"),
                Duration.ofSeconds(1)));
        assertSame(refused, e);
    }

    @Test
    void noConsoleGivesNoTail() {
        assertEquals("", Sandbox.consoleTail(dir.resolve("console.log")));
    }
}
