package io.javakata.sys;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.util.OptionalInt;

import static org.junit.jupiter.api.Assertions.assertEquals;

@Timeout(30)
class ProcessesTest {

    /**
     * sh starts a background child and exits. With this JVM a subreaper, the orphan is reparented here
     * rather than to init; the JDK knows nothing of it, so waitAnyNoReap and reap are the only waiters.
     */
    @Test
    void orphanedGrandchildIsSeenThenReaped() throws Exception {
        Processes.setChildSubreaper();
        Process sh = new ProcessBuilder("sh", "-c", "sleep 2 >/dev/null 2>&1 & echo $!").redirectErrorStream(true).start();
        int grandchild = Integer.parseInt(new String(sh.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim());
        assertEquals(0, sh.waitFor());
        sh.onExit().join();

        assertEquals(OptionalInt.empty(), Processes.reap(grandchild), "sleep 2 still runs");
        assertEquals(grandchild, Processes.waitAnyNoReap());
        assertEquals(OptionalInt.of(0), Processes.reap(grandchild));
        assertEquals(-1, Processes.waitAnyNoReap(), "no children left");
    }

    @Test
    void exitStatusDecoding() {
        assertEquals(0, Processes.exitCode(0));
        assertEquals(5, Processes.exitCode(5 << 8));
        assertEquals(137, Processes.exitCode(9));
        assertEquals(143, Processes.exitCode(15 | 0x80));
    }
}
