package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Detached tasks, kill, events, the shim's log, and what is left after a container is removed. */
@Tag("containerd")
@Tag("qemu")
@Tag("slow")
class LifecycleIT {

    private static final Duration CALL = Duration.ofSeconds(60);
    private static final Duration RUN = Duration.ofSeconds(180);

    @RegisterExtension
    static final PrivateContainerd CONTAINERD = new PrivateContainerd("jklife");

    private static Ctr ctr() {
        return CONTAINERD.ctr();
    }

    @Test
    @Timeout(value = 300, unit = TimeUnit.SECONDS)
    void detachedTaskIsKilledAndRemoved() throws Exception {
        ctr().run(RUN, "run", "--runtime", PrivateContainerd.RUNTIME, "-d", PrivateContainerd.IMAGE, "sleeper",
                "sleep", "1000").assertOk();
        try {
            killAndRemove();
        } finally {
            // After a failure above, so that the next tests start clean (the class still fails on the leak check).
            ctr().run(CALL, "task", "rm", "-f", "sleeper");
            ctr().run(CALL, "containers", "rm", "sleeper");
        }
        assertNothingLeftOf("sleeper");
    }

    private static void killAndRemove() throws Exception {
        assertEquals("RUNNING", status("sleeper"));
        // sleep is PID 1 of its container and has no SIGTERM handler, so the kernel ignores SIGTERM: send KILL.
        ctr().run(CALL, "task", "kill", "-s", "SIGKILL", "sleeper").assertOk();
        Await.until("sleeper STOPPED", Duration.ofSeconds(30), () -> "STOPPED".equals(status("sleeper")));

        ctr().run(CALL, "task", "rm", "sleeper").assertOk();
        ctr().run(CALL, "containers", "rm", "sleeper").assertOk();
        assertFalse(ctr().run(CALL, "task", "ls", "-q").assertOk().stdout().contains("sleeper"));
    }

    @Test
    @Timeout(value = 300, unit = TimeUnit.SECONDS)
    void eventsCoverTheWholeLife() throws Exception {
        Path out = Files.createTempFile(CONTAINERD.dir(), "events", ".txt");
        Process events = ctr().startEvents(out, CALL);
        try {
            ctr().run(RUN, "run", "--runtime", PrivateContainerd.RUNTIME, "--rm", PrivateContainerd.IMAGE, "evented",
                    "true").assertOk();
            List<String> topics = List.of("/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete");
            Await.until(() -> "all of " + topics + " for evented; events seen:\n" + read(out), Duration.ofSeconds(15),
                    () -> missingTopics(out, topics, "evented").isEmpty());
        } finally {
            events.destroyForcibly().waitFor();
        }
    }

    @Test
    @Timeout(value = 300, unit = TimeUnit.SECONDS)
    void shimLogLinesReachContainerdsLog() throws Exception {
        ctr().run(RUN, "run", "--runtime", PrivateContainerd.RUNTIME, "--rm", PrivateContainerd.IMAGE, "logged",
                "true").assertOk();
        // containerd's own lines are logrus text with a quoted time (time="…"); the shim writes
        // time=<instant> … id=<task id> … logger=<class> (shim.log.LogLine), copied by containerd from the bundle's log FIFO.
        Pattern shimLine = Pattern.compile("^time=\\d\\S* .*\\bid=logged\\b.*\\blogger=\\S+");
        long count = Files.readAllLines(CONTAINERD.log()).stream().filter(l -> shimLine.matcher(l).find()).count();
        assertTrue(count > 0, "no line of the shim in " + CONTAINERD.log());
    }

    @Test
    @Timeout(value = 300, unit = TimeUnit.SECONDS)
    void removedContainerLeavesNothing() throws Exception {
        ctr().run(RUN, "run", "--runtime", PrivateContainerd.RUNTIME, "--rm", PrivateContainerd.IMAGE, "gone",
                "uname", "-r").assertOk();
        assertNothingLeftOf("gone");
    }

    private static void assertNothingLeftOf(String id) throws Exception {
        assertEquals(List.of(), CONTAINERD.leaksAfter(Duration.ofSeconds(15)));
        assertFalse(Files.exists(CONTAINERD.sandboxDir(id)), "sandbox state left: " + CONTAINERD.sandboxDir(id));
        assertFalse(Files.exists(CONTAINERD.shimSocket(id)), "shim socket left: " + CONTAINERD.shimSocket(id));
        assertFalse(Files.exists(CONTAINERD.bundle(id)), "bundle left: " + CONTAINERD.bundle(id));
    }

    private static String status(String id) {
        // ctr task ls: TASK PID STATUS
        return ctr().run(CALL, "task", "ls").assertOk().stdout().lines()
                .map(l -> l.trim().split("\\s+"))
                .filter(f -> f.length >= 3 && f[0].equals(id))
                .map(f -> f[2]).findFirst().orElse("absent");
    }

    private static List<String> missingTopics(Path out, List<String> topics, String id) throws Exception {
        List<String> lines = Files.readAllLines(out);
        return topics.stream()
                .filter(t -> lines.stream().noneMatch(l -> l.contains(" " + t + " ") && l.contains("\"" + id + "\"")))
                .toList();
    }

    private static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (java.io.IOException e) {
            return "(unreadable: " + e.getMessage() + ")";
        }
    }
}
