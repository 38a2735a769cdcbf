package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** {@code ctr run --rm} through the javakata runtime: kernel, exit codes, stdio. */
@Tag("containerd")
@Tag("qemu")
@Tag("slow")
class RunIT {

    private static final Duration RUN = Duration.ofSeconds(180);

    @RegisterExtension
    static final PrivateContainerd CONTAINERD = new PrivateContainerd("jkrun");

    private static Ctr.Result run(String id, String stdin, String... command) {
        var args = new ArrayList<String>(List.of("run", "--runtime", PrivateContainerd.RUNTIME, "--rm"));
        // ctr 1.6.20's run has no -i: it always hands its own stdin to the task (EOF when we pass none).
        args.add(PrivateContainerd.IMAGE);
        args.add(id);
        args.addAll(List.of(command));
        return CONTAINERD.ctr().runWithStdin(RUN, stdin, args.toArray(String[]::new));
    }

    @Test
    @Timeout(value = 240, unit = TimeUnit.SECONDS)
    void containerRunsOnTheGuestKernel() throws Exception {
        var release = run("kernel", null, "uname", "-r").assertOk();
        assertTrue(release.stdout().strip().matches("\\d+\\.\\d+\\S*"), () -> "not a kernel release: " + release.describe());

        var bootId = run("bootid", null, "cat", "/proc/sys/kernel/random/boot_id").assertOk();
        String hostBootId = Files.readString(Path.of("/proc/sys/kernel/random/boot_id")).strip();
        assertTrue(bootId.stdout().strip().matches("[0-9a-f-]{36}"), () -> "not a boot id: " + bootId.describe());
        assertNotEquals(hostBootId, bootId.stdout().strip(), "the container shares the host's kernel (same boot id)");
    }

    @Test
    @Timeout(value = 240, unit = TimeUnit.SECONDS)
    void exitCodeOfTheContainerIsCtrsExitCode() {
        var result = run("exit3", null, "sh", "-c", "exit 3");
        assertEquals(3, result.exitCode(), result::describe);
    }

    @Test
    @Timeout(value = 240, unit = TimeUnit.SECONDS)
    void stdinReachesTheContainer() {
        // Not `cat`: ctr 1.6.20 never closes the task's stdin when its own reaches EOF (no CloseIO), so
        // `echo hi | ctr run … cat` prints hi and then waits forever, with runc as with any runtime.
        var result = run("stdin", "hi\n", "sh", "-c", "read line; echo \"got $line\"").assertOk();
        assertEquals("got hi\n", result.stdout(), result::describe);
    }

    @Test
    @Timeout(value = 240, unit = TimeUnit.SECONDS)
    void everyLineArrivesBeforeTheExit() {
        var result = run("lines", null, "sh", "-c",
                "i=1; while [ $i -le 2000 ]; do echo \"line $i\"; i=$((i+1)); done").assertOk();
        List<String> lines = result.stdout().lines().toList();
        assertEquals(2000, lines.size(), () -> "got " + lines.size() + " lines, the last: "
                + (lines.isEmpty() ? "none" : lines.getLast()));
        for (int i = 0; i < 2000; i++) {
            assertEquals("line " + (i + 1), lines.get(i));
        }
    }

    @Test
    @Timeout(value = 240, unit = TimeUnit.SECONDS)
    void stdoutAndStderrStayApart() {
        var result = run("streams", null, "sh", "-c", "echo to-out; echo to-err >&2").assertOk();
        assertEquals("to-out\n", result.stdout(), result::describe);
        assertTrue(result.stderr().contains("to-err"), result::describe);
        assertTrue(!result.stderr().contains("to-out"), result::describe);
    }

    @Test
    @Timeout(value = 240, unit = TimeUnit.SECONDS)
    void missingBinaryFailsClearlyAndLeavesNothing() throws Exception {
        var result = run("nosuch", null, "nosuchbinary");
        assertNotEquals(0, result.exitCode(), result::describe);
        assertTrue(result.stderr().contains("nosuchbinary"), () -> "the error does not name the binary: " + result.describe());
        var leftover = CONTAINERD.ctr().run(Duration.ofSeconds(30), "containers", "ls", "-q").assertOk();
        if (leftover.stdout().lines().anyMatch("nosuch"::equals)) {
            // ctr run --rm does not remove a container whose task never started; that is ctr's, not a leak.
            CONTAINERD.ctr().run(Duration.ofSeconds(60), "containers", "rm", "nosuch").assertOk();
        }
        assertEquals(List.of(), CONTAINERD.leaksAfter(Duration.ofSeconds(15)));
        assertTrue(!Files.exists(CONTAINERD.sandboxDir("nosuch")), "sandbox state left: " + CONTAINERD.sandboxDir("nosuch"));
        assertTrue(!Files.exists(CONTAINERD.shimSocket("nosuch")), "shim socket left: " + CONTAINERD.shimSocket("nosuch"));
        assertTrue(!Files.exists(CONTAINERD.bundle("nosuch")), "bundle left: " + CONTAINERD.bundle("nosuch"));
    }
}
