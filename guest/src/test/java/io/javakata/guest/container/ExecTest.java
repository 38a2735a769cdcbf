package io.javakata.guest.container;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import io.javakata.guest.stdio.StreamBuffer;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;

/** Exec, pause, resume and update through ContainerManager against fake-runc.sh. */
@Timeout(30)
class ExecTest {

    @RegisterExtension
    static final FakeRunc RUNC = new FakeRunc();

    @TempDir
    Path tmp;

    private ContainerManager manager() throws Exception {
        // A fake /proc and cgroup mount (fake-runc.sh fills them): the fake containers run in this
        // JVM's own cgroup, which the agent must never kill.
        return RUNC.manager(tmp, Files.createDirectories(tmp.resolve("proc")),
                Files.createDirectories(tmp.resolve("cg")));
    }

    private static byte[] spec(String script) {
        return ("{\"process\":{\"args\":[\"sh\",\"-c\",\"" + script + "\"]}}").getBytes(UTF_8);
    }

    private static byte[] process(String script) {
        return ("{\"args\":[\"sh\",\"-c\",\"" + script + "\"],\"cwd\":\"/\"}").getBytes(UTF_8);
    }

    private static ContainerManager.ExecRequest exec(String id, String execId, String script) {
        return new ContainerManager.ExecRequest(id, execId, process(script), false, true, true, true);
    }

    private static String drain(StreamBuffer buffer) throws InterruptedException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        while (true) {
            StreamBuffer.Chunk chunk = buffer.read(64);
            if (chunk.eof()) {
                return out.toString(UTF_8);
            }
            out.writeBytes(chunk.data());
        }
    }

    private static Code code(Runnable r) {
        return assertThrows(RuntimeStatusException.class, r::run).code();
    }

    @Test
    void anExecRunsBesideTheInitWithItsOwnStdioAndExitStatus() throws Exception {
        ContainerManager manager = manager();
        Container c = manager.create(new ContainerManager.CreateRequest("c1", spec("sleep 30"), false, false, false));
        manager.start("c1");
        ExecProcess e = manager.exec(exec("c1", "e1", "read x; echo out $x; echo err >&2; exit 4"));
        assertEquals(ProcessState.REGISTERED, e.state());
        assertEquals(Code.ALREADY_EXISTS, code(() -> manager.exec(exec("c1", "e1", "true"))));
        assertEquals(Code.NOT_FOUND, code(() -> manager.signalExec("c1", "e1", 15)), "not started yet");

        manager.startExec("c1", "e1");
        assertTrue(e.pid() > 0 && e.pid() != c.initPid());
        assertEquals(Code.FAILED_PRECONDITION, code(() -> manager.startExec("c1", "e1")));
        assertEquals(Code.FAILED_PRECONDITION, code(() -> manager.removeExec("c1", "e1")), "still running");
        e.stdio().writeStdin("hi\n".getBytes(UTF_8));
        e.stdio().closeStdin();
        assertEquals(4, e.exitWithOutput().get(10, TimeUnit.SECONDS).status());
        assertEquals("out hi\n", drain(e.stdio().stdout()));
        assertEquals("err\n", drain(e.stdio().stderr()));
        assertEquals(Code.NOT_FOUND, code(() -> manager.signalExec("c1", "e1", 15)), "already finished");
        assertFalse(c.exit().isDone(), "the init keeps running");

        manager.removeExec("c1", "e1");
        assertFalse(Files.exists(tmp.resolve("bundles/c1/execs/e1")));
        assertEquals(Code.NOT_FOUND, code(() -> c.exec("e1")));
        assertEquals(Code.NOT_FOUND, code(() -> manager.startExec("c1", "nosuch")));

        manager.signal("c1", 9, false);
        c.exitWithOutput().get(10, TimeUnit.SECONDS);
        assertEquals(Code.FAILED_PRECONDITION, code(() -> manager.exec(exec("c1", "e2", "true"))),
                "exec after the init exited");
        manager.remove("c1");
    }

    @Test
    void aFailedExecStartReportsRuncsReasonAndEndsTheExec() throws Exception {
        ContainerManager manager = manager();
        manager.create(new ContainerManager.CreateRequest("c2", spec("sleep 30"), false, false, false));
        manager.start("c2");
        ExecProcess e = manager.exec(new ContainerManager.ExecRequest("c2", "bad",
                "{\"args\":[\"/nosuch\"]}".getBytes(UTF_8), false, false, true, true));
        RuntimeStatusException failure = assertThrows(RuntimeStatusException.class,
                () -> manager.startExec("c2", "bad"));
        assertTrue(failure.getMessage().startsWith("start exec bad in container c2: runc exec c2 failed"),
                failure.getMessage());
        assertTrue(failure.getMessage().contains("executable file not found"), failure.getMessage());
        assertEquals(ExecProcess.START_FAILED_STATUS, e.exitWithOutput().get(10, TimeUnit.SECONDS).status());
        manager.removeExec("c2", "bad");
        manager.signal("c2", 9, false);
        manager.remove("c2");
    }

    @Test
    void pauseResumeAndUpdateGoToRunc() throws Exception {
        ContainerManager manager = manager();
        Container c = manager.create(new ContainerManager.CreateRequest("c3", spec("sleep 30"), false, false, false));
        manager.start("c3");
        manager.pause("c3");
        assertEquals("paused", Files.readString(tmp.resolve("state/c3.status")).strip());
        manager.resume("c3");
        assertEquals("running", Files.readString(tmp.resolve("state/c3.status")).strip());
        String resources = "{\"memory\":{\"limit\":33554432}}";
        manager.update("c3", resources.getBytes(UTF_8));
        assertEquals(resources, Files.readString(tmp.resolve("state/c3.resources")));
        assertEquals(Code.INVALID_ARGUMENT, code(() -> manager.update("c3", new byte[0])));
        manager.signal("c3", 9, false);
        c.exitWithOutput().get(10, TimeUnit.SECONDS);
        assertEquals(Code.FAILED_PRECONDITION, code(() -> manager.pause("c3")));
        manager.remove("c3");
        assertEquals(Code.NOT_FOUND, code(() -> manager.pause("c3")));
    }

    @Test
    void anExecWhoseChildKeepsStdoutOpenReportsItsExitWithinTheDrainBound() throws Exception {
        ContainerManager manager = manager();
        Container c = manager.create(new ContainerManager.CreateRequest("c4", spec("sleep 30"), false, false, false));
        manager.start("c4");
        Path childPid = tmp.resolve("child.pid");
        ExecProcess e = manager.exec(exec("c4", "bg", "sleep 60 & echo $! > " + childPid + "; echo before; exit 5"));
        manager.startExec("c4", "bg");
        long child = 0;
        try {
            long start = System.nanoTime();
            assertEquals(5, e.exitWithOutput().get(10, TimeUnit.SECONDS).status());
            Duration took = Duration.ofNanos(System.nanoTime() - start);
            child = Long.parseLong(Files.readString(childPid).strip());
            assertTrue(ProcessHandle.of(child).map(ProcessHandle::isAlive).orElse(false),
                    "an exec's children outlive it, as under runc");
            assertTrue(took.compareTo(ContainerProcess.OUTPUT_DRAIN.plusSeconds(2)) < 0, "took " + took);
            assertEquals("before\n", drain(e.stdio().stdout()));
            assertEquals("", drain(e.stdio().stderr()));
        } finally {
            if (child > 0) {
                ProcessHandle.of(child).ifPresent(ProcessHandle::destroyForcibly);
            }
        }
        manager.removeExec("c4", "bg");
        manager.signal("c4", 9, false);
        c.exitWithOutput().get(10, TimeUnit.SECONDS);
        manager.remove("c4");
    }
}
