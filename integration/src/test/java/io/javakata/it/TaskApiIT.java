package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The Task API beyond run and kill, through containerd and ctr: exec with and without a terminal,
 * ps, pause and resume, metrics, the OOM killer, and the errors ctr gets back.
 */
@Tag("containerd")
@Tag("qemu")
@Tag("slow")
class TaskApiIT {

    private static final Duration CALL = Duration.ofSeconds(180);

    @RegisterExtension
    static final PrivateContainerd CONTAINERD = new PrivateContainerd("jktask");

    private static Ctr ctr() {
        return CONTAINERD.ctr();
    }

    @Test
    @Timeout(value = 420, unit = TimeUnit.SECONDS)
    void execPsPauseResumeAndMetricsOnARunningTask() throws Exception {
        Path out = Files.createTempFile(CONTAINERD.dir(), "events", ".txt");
        Process events = ctr().startEvents(out, CALL);
        try {
            ctr().run(CALL, "run", "-d", "--runtime", PrivateContainerd.RUNTIME, PrivateContainerd.IMAGE, "t1",
                    "sleep", "600").assertOk();

            Ctr.Result exec = ctr().run(CALL, "task", "exec", "--exec-id", "e1", "t1", "sh", "-c",
                    "echo pid $$; echo oops >&2; exit 3");
            assertEquals(3, exec.exitCode(), exec::describe);
            assertTrue(exec.stdout().strip().matches("pid \\d+"), exec::describe);
            assertEquals("oops", exec.stderr().strip(), exec::describe);

            // A terminal: ctr -t needs one on its own stdin, which script(1) provides.
            Ctr.Result tty = Ctr.execute(List.of("script", "-qc", "stty cols 100 rows 30; ctr -a " + ctr().socket() + " -n "
                    + ctr().namespace() + " task exec -t --exec-id tty1 t1 sh -c 'sleep 1; tty; stty size'",
                    "/dev/null"), null, CALL);
            assertEquals(0, tty.exitCode(), tty::describe);
            assertTrue(tty.stdout().contains("/dev/pts/0"), tty::describe);
            assertTrue(tty.stdout().contains("30 100"), () -> "ResizePty did not reach the guest: " + tty.describe());

            ctr().run(CALL, "task", "exec", "-d", "--exec-id", "bg", "t1", "sleep", "300").assertOk();
            Ctr.Result ps = ctr().run(CALL, "task", "ps", "t1").assertOk();
            assertTrue(ps.stdout().contains("ExecID:bg"), ps::describe);
            assertEquals(3, ps.stdout().strip().lines().count(), ps::describe);

            Ctr.Result dup = ctr().run(CALL, "task", "exec", "--exec-id", "bg", "t1", "true");
            assertTrue(dup.exitCode() != 0 && dup.stderr().contains("already exists"), dup::describe);
            Ctr.Result unknown = ctr().run(CALL, "task", "exec", "--exec-id", "x", "nosuch", "true");
            assertTrue(unknown.exitCode() != 0 && unknown.stderr().contains("not found"), unknown::describe);

            ctr().run(CALL, "task", "pause", "t1").assertOk();
            assertTrue(ctr().run(CALL, "task", "ls").assertOk().stdout().contains("PAUSED"));
            ctr().run(CALL, "task", "resume", "t1").assertOk();
            assertTrue(ctr().run(CALL, "task", "ls").assertOk().stdout().contains("RUNNING"));

            Ctr.Result metrics = ctr().run(CALL, "task", "metrics", "t1").assertOk();
            long usage = metrics.stdout().lines().filter(l -> l.startsWith("memory.usage "))
                    .mapToLong(l -> Long.parseLong(l.split("\\s+")[1])).findFirst().orElse(0);
            assertTrue(usage > 0, metrics::describe);

            ctr().run(CALL, "task", "kill", "-s", "9", "t1").assertOk();
            awaitStopped("t1");
            ctr().run(CALL, "task", "rm", "t1").assertOk();
            ctr().run(CALL, "containers", "rm", "t1").assertOk();

            List<String> topics = topics(out, "t1", "/tasks/delete");
            assertEquals(List.of("/tasks/exec-added", "/tasks/exec-started", "/tasks/exit"),
                    topics.subList(topics.indexOf("/tasks/exec-added"), topics.indexOf("/tasks/exec-added") + 3),
                    () -> "events: " + topics);
            assertTrue(topics.indexOf("/tasks/paused") < topics.indexOf("/tasks/resumed")
                    && topics.indexOf("/tasks/paused") > 0, () -> "events: " + topics);
        } finally {
            events.destroyForcibly().waitFor();
        }
    }

    @Test
    @Timeout(value = 420, unit = TimeUnit.SECONDS)
    void aContainerOverItsMemoryLimitIsOomKilledAndTheOomEventComesFirst() throws Exception {
        Path out = Files.createTempFile(CONTAINERD.dir(), "events", ".txt");
        Process events = ctr().startEvents(out, CALL);
        try {
            Ctr.Result run = ctr().run(CALL, "run", "--rm", "--runtime", PrivateContainerd.RUNTIME,
                    "--memory-limit", Long.toString(32L << 20), PrivateContainerd.IMAGE, "oom1", "sh", "-c",
                    "x=$(head -c 100m /dev/zero | tr '\\0' a); echo survived ${#x}");
            assertEquals(137, run.exitCode(), run::describe);
            List<String> topics = topics(out, "oom1", "/tasks/delete");
            assertTrue(topics.contains("/tasks/oom"), () -> "events: " + topics);
            assertTrue(topics.indexOf("/tasks/oom") < topics.indexOf("/tasks/exit"), () -> "events: " + topics);
        } finally {
            events.destroyForcibly().waitFor();
        }
    }

    /** The /tasks topics of one container, in order, from `ctr events` output, once {@code last} is among them. */
    private static List<String> topics(Path out, String id, String last) throws Exception {
        Await.until(last + " of " + id + " in " + out, Duration.ofSeconds(30), () -> topicsSoFar(out, id).contains(last));
        return topicsSoFar(out, id);
    }

    private static List<String> topicsSoFar(Path out, String id) throws Exception {
        return Files.readAllLines(out).stream().filter(l -> l.contains("\"container_id\":\"" + id + "\""))
                .map(l -> l.split(" ")[5]).filter(t -> t.startsWith("/tasks/")).toList();
    }

    private static void awaitStopped(String id) throws Exception {
        Await.until(id + " STOPPED in ctr task ls", Duration.ofSeconds(60), () -> ctr().run(CALL, "task", "ls")
                .assertOk().stdout().lines().anyMatch(l -> l.startsWith(id + " ") && l.contains("STOPPED")));
    }
}
