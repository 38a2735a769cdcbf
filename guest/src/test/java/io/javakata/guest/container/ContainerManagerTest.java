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

import io.javakata.guest.reaper.ExitStatus;
import io.javakata.guest.stdio.RuntimeStdio;
import io.javakata.guest.stdio.StreamBuffer;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;

/**
 * Drives ContainerManager against fake-runc.sh: real FIFOs, a real subreaper, real exit statuses;
 * only runc's namespaces are missing.
 */
@Timeout(30)
class ContainerManagerTest {

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

    private static byte[] spec(String... args) {
        StringBuilder json = new StringBuilder("{\"process\":{\"args\":[");
        for (int i = 0; i < args.length; i++) {
            json.append(i == 0 ? "" : ",").append('"').append(args[i].replace("\"", "\\\"")).append('"');
        }
        return json.append("]}}").toString().getBytes(UTF_8);
    }

    private static byte[] specWithOwnPidNamespace(String... args) {
        String json = new String(spec(args), UTF_8);
        return (json.substring(0, json.length() - 1) + ",\"annotations\":{\"fake.own-pid-ns\":\"true\"}}").getBytes(UTF_8);
    }

    private static boolean alive(long pid) {
        return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
    }

    private static String drain(StreamBuffer buffer) throws InterruptedException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        while (true) {
            StreamBuffer.Chunk chunk = buffer.read(3);
            if (chunk.eof()) {
                return out.toString(UTF_8);
            }
            out.writeBytes(chunk.data());
        }
    }

    @Test
    void runsAContainerWithStdioAndReportsItsExitAfterTheOutput() throws Exception {
        ContainerManager manager = manager();
        Container c = manager.create(new ContainerManager.CreateRequest("c1",
                spec("sh", "-c", "read x; echo out $x; echo err >&2; exit 3"), true, true, true));
        assertTrue(Files.exists(tmp.resolve("bundles/c1/config.json")));
        assertTrue(c.initPid() > 0);
        manager.start("c1");
        c.stdio().writeStdin("hi\n".getBytes(UTF_8));
        c.stdio().closeStdin();
        assertEquals(3, c.exitWithOutput().get(10, TimeUnit.SECONDS).status());
        assertEquals("out hi\n", drain(c.stdio().stdout()));
        assertEquals("err\n", drain(c.stdio().stderr()));

        RuntimeStatusException late = assertThrows(RuntimeStatusException.class, () -> manager.signal("c1", 15, false));
        assertEquals(Code.NOT_FOUND, late.code());
        assertTrue(late.getMessage().contains("process already finished"), late.getMessage());

        manager.remove("c1");
        assertFalse(Files.exists(tmp.resolve("bundles/c1")));
        assertEquals(Code.NOT_FOUND, assertThrows(RuntimeStatusException.class, () -> manager.get("c1")).code());
    }

    @Test
    void aSignalEndsARunningContainerAndUnwantedStreamsAreNull() throws Exception {
        ContainerManager manager = manager();
        Container c = manager.create(new ContainerManager.CreateRequest("c2", spec("sleep", "30"), false, false, false));
        manager.start("c2");
        assertEquals(Code.FAILED_PRECONDITION,
                assertThrows(RuntimeStatusException.class, () -> manager.start("c2")).code());
        manager.signal("c2", 9, false);
        assertEquals(128 + 9, c.exitWithOutput().get(10, TimeUnit.SECONDS).status());
        manager.remove("c2");
    }

    @Test
    void aMissingExecutableFailsCreateWithRuncsMessageAndLeavesNothing() throws Exception {
        ContainerManager manager = manager();
        RuntimeStatusException e = assertThrows(RuntimeStatusException.class, () -> manager.create(
                new ContainerManager.CreateRequest("c3", spec("/nosuch/binary"), false, true, true)));
        assertTrue(e.getMessage().startsWith("create container c3: runc create c3 failed (exit 1): "), e.getMessage());
        assertTrue(e.getMessage().contains("executable file not found"), e.getMessage());
        assertFalse(Files.exists(tmp.resolve("bundles/c3")));
        assertEquals(Code.NOT_FOUND, assertThrows(RuntimeStatusException.class, () -> manager.get("c3")).code());
    }

    @Test
    void badIdsAndDuplicatesAreRefused() throws Exception {
        ContainerManager manager = manager();
        assertEquals(Code.INVALID_ARGUMENT, assertThrows(RuntimeStatusException.class, () -> manager.create(
                new ContainerManager.CreateRequest("../x", spec("true"), false, false, false))).code());
        manager.create(new ContainerManager.CreateRequest("c4", spec("true"), false, false, false));
        assertEquals(Code.ALREADY_EXISTS, assertThrows(RuntimeStatusException.class, () -> manager.create(
                new ContainerManager.CreateRequest("c4", spec("true"), false, false, false))).code());
        manager.remove("c4");
    }

    @Test
    void whenTheInitOfAContainerSharingAPidNamespaceExitsTheRestIsKilled() throws Exception {
        ContainerManager manager = manager();
        Path procs = tmp.resolve("cg/c5/cgroup.procs");
        Path childPid = tmp.resolve("child.pid");
        // The init leaves a child behind that holds its stdout (nginx's worker, a daemon's child).
        Container c = manager.create(new ContainerManager.CreateRequest("c5", spec("sh", "-c",
                "sleep 60 & echo $! >> " + procs + "; echo $! > " + childPid + "; echo up; exit 4"), false, true, true));
        manager.start("c5");
        ExitStatus exited = c.exit().get(10, TimeUnit.SECONDS);
        long child = Long.parseLong(Files.readString(childPid).strip());
        ExitStatus reported = c.exitWithOutput().get(10, TimeUnit.SECONDS);
        assertEquals(4, reported.status());
        assertEquals(exited, reported);
        assertFalse(alive(child), "the child the init left was killed, as runc's shim kills it");
        // Its end closed the stdout: no drain bound had to cut it off.
        assertTrue(Duration.between(exited.exitedAt(), java.time.Instant.now()).compareTo(ContainerProcess.OUTPUT_DRAIN) < 0);
        assertEquals("up\n", drain(c.stdio().stdout()));
        manager.remove("c5");
    }

    @Test
    void aChildHoldingStdoutDelaysTheExitByTheDrainBoundAtMostWithEveryByte() throws Exception {
        ContainerManager manager = manager();
        Path childPid = tmp.resolve("child.pid");
        // With a PID namespace of its own the kernel ends the child; the fake has no namespace, so the
        // child lives on, as a descendant in another PID namespace would.
        Container c = manager.create(new ContainerManager.CreateRequest("c6", specWithOwnPidNamespace("sh", "-c",
                "sleep 60 & echo $! > " + childPid + "; head -c 300000 /dev/zero | tr '\\\\0' x; echo; echo last"),
                false, true, true));
        long child = 0;
        try {
            manager.start("c6");
            ExitStatus exited = c.exit().get(10, TimeUnit.SECONDS);
            child = Long.parseLong(Files.readString(childPid).strip());
            ExitStatus reported = c.exitWithOutput().get(10, TimeUnit.SECONDS);
            Duration waited = Duration.between(exited.exitedAt(), java.time.Instant.now());
            assertEquals(0, reported.status());
            assertTrue(alive(child), "not killed: the container has a PID namespace of its own");
            assertTrue(waited.compareTo(ContainerProcess.OUTPUT_DRAIN.minusMillis(200)) >= 0, "cut off after " + waited);
            assertTrue(waited.compareTo(ContainerProcess.OUTPUT_DRAIN.plusSeconds(2)) < 0, "cut off after " + waited);
            assertEquals("x".repeat(300000) + "\nlast\n", drain(c.stdio().stdout()));
        } finally {
            if (child > 0) {
                ProcessHandle.of(child).ifPresent(ProcessHandle::destroyForcibly);
            }
        }
        manager.remove("c6");
    }

    @Test
    void theNsPidLineTellsWhetherTheInitOwnsItsPidNamespace() throws Exception {
        ContainerManager manager = manager();
        Path proc = tmp.resolve("proc");
        Files.createDirectories(proc.resolve("10"));
        Files.writeString(proc.resolve("10/status"), "Name:\tnginx\nNSpid:\t10\t1\n");
        Files.createDirectories(proc.resolve("11"));
        Files.writeString(proc.resolve("11/status"), "Name:\tnginx\nNSpid:\t11\t7\n");
        Files.createDirectories(proc.resolve("12"));
        Files.writeString(proc.resolve("12/status"), "Name:\tsh\nNSpid:\t12\n");
        assertTrue(manager.initOfItsPidNamespace(10));
        assertFalse(manager.initOfItsPidNamespace(11), "joined the pod's namespace");
        assertFalse(manager.initOfItsPidNamespace(12), "no namespace of its own");
        assertFalse(manager.initOfItsPidNamespace(13), "gone: the safe answer is to kill the rest");
    }

    /** A runtime whose create fails with an exception that has no message, as a bug's NullPointerException would. */
    private static final class BrokenRuntime implements OciRuntime {
        @Override
        public void create(String id, Path bundle, Path pidFile, RuntimeStdio stdio) {
            throw new IllegalStateException();
        }

        @Override
        public void exec(String id, Path bundle, Path processJson, Path pidFile, RuntimeStdio stdio) {
            throw new IllegalStateException();
        }

        @Override
        public void start(String id, Path bundle) {
        }

        @Override
        public void pause(String id, Path bundle) {
        }

        @Override
        public void resume(String id, Path bundle) {
        }

        @Override
        public void update(String id, Path bundle, Path resources) {
        }

        @Override
        public void kill(String id, Path bundle, int signal, boolean all) {
        }

        @Override
        public void delete(String id, Path bundle) {
        }
    }

    @Test
    void aFailureWithoutAMessageStillSaysWhatFailedAndKeepsItsCause() throws Exception {
        ContainerManager manager = new ContainerManager(tmp.resolve("bundles"), new BrokenRuntime(), RUNC.reaper(),
                tmp.resolve("proc"), tmp.resolve("cg"));
        RuntimeStatusException e = assertThrows(RuntimeStatusException.class, () -> manager.create(
                new ContainerManager.CreateRequest("c7", spec("true"), false, true, true)));
        assertEquals(Code.UNKNOWN, e.code());
        assertEquals("create container c7: IllegalStateException", e.getMessage());
        assertTrue(e.getCause() instanceof IllegalStateException, "the cause travels to the ttrpc boundary");
        assertFalse(Files.exists(tmp.resolve("bundles/c7")), "nothing left behind");
    }
}
