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

    /**
     * containerd runs {@code delete} without the runtime options {@code start} had: after a shim is killed, delete
     * still cleans up in the state dir of the configuration those options named (here one that moves it out of
     * /run/javakata), which start recorded in the bundle.
     */
    @Test
    @Timeout(value = 300, unit = TimeUnit.SECONDS)
    void aKilledShimIsCleanedUpInTheStateDirOfItsRuntimeOptions() throws Exception {
        String name = CONTAINERD.dir().getFileName().toString();
        Path state = Path.of("/run/jk-" + name.substring(Math.max(0, name.length() - 8)));
        Path config = CONTAINERD.dir().resolve("moved.toml");
        // The serial handler's configuration with the state dir moved, and no template to build for this one pod.
        Ctr.execute(List.of("bash", "-c", "source \"$1\" && toml_with_key \"$2\" runtime state_dir \"\\\"$3\\\"\" "
                + "| toml_with_key /dev/stdin template enabled false > \"$4\"", "bash",
                PrivateContainerd.repo().resolve("scripts/lib/toml.sh").toString(),
                CONTAINERD.dir().resolve("javakata-serial.toml").toString(), state.toString(), config.toString()),
                null, CALL).assertOk();
        Path sandbox = state.resolve("sandboxes").resolve(CONTAINERD.sandboxDir("moved").getFileName());
        Path out = Files.createTempFile(CONTAINERD.dir(), "events", ".txt");
        Process events = ctr().startEvents(out, CALL);
        try {
            ctr().run(RUN, "run", "--runtime", PrivateContainerd.RUNTIME, "--runtime-config-path", config.toString(),
                    "-d", PrivateContainerd.IMAGE, "moved", "sleep", "1000").assertOk();
            assertTrue(Files.isDirectory(sandbox), "the pod's state is in the moved state dir: " + sandbox);
            long shimPid = Long.parseLong(Files.readString(CONTAINERD.bundle("moved").resolve("shim.pid")).strip());
            ProcessHandle.of(shimPid).ifPresent(ProcessHandle::destroyForcibly);

            Await.until("containerd's delete after the shim's death removed " + sandbox, Duration.ofSeconds(60),
                    () -> !Files.exists(sandbox));
            Await.until("the killed shim's socket removed from " + state.resolve("s"), Duration.ofSeconds(15),
                    () -> isEmpty(state.resolve("s")));
            // containerd publishes the exit that delete answered (SIGKILL's 137) and drops the task.
            Await.until(() -> "the exit of moved with 137; events seen:\n" + read(out), Duration.ofSeconds(30),
                    () -> Files.readAllLines(out).stream().anyMatch(l -> l.contains(" /tasks/exit ")
                            && l.contains("\"moved\"") && l.contains("137")));
            Await.until("moved no longer listed", Duration.ofSeconds(30), () -> "absent".equals(status("moved")));
        } finally {
            events.destroyForcibly().waitFor();
            ctr().run(CALL, "task", "rm", "-f", "moved");
            ctr().run(CALL, "containers", "rm", "moved");
            // What a failed cleanup left (the assertions above said so): its mounts, then the moved state dir.
            if (Files.exists(sandbox)) {
                Ctr.execute(List.of("umount", "-R", "-l", sandbox.resolve("mounts").toString(),
                        sandbox.resolve("shared").toString()), null, CALL);
            }
            Ctr.execute(List.of("rm", "-rf", state.toString()), null, CALL);
        }
        assertNothingLeftOf("moved");
    }

    private static boolean isEmpty(Path dir) throws java.io.IOException {
        if (!Files.isDirectory(dir)) {
            return true;
        }
        try (var entries = Files.list(dir)) {
            return entries.findAny().isEmpty();
        }
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
