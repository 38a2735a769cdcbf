package io.javakata.shim.agent;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;
import io.javakata.ttrpc.TtrpcClient;
import io.javakata.ttrpc.TtrpcServer;
import io.javakata.ttrpc.transport.PipeConnection;
import java.io.ByteArrayOutputStream;
import java.time.Duration;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.function.Executable;

/**
 * What the shim relies on from the guest agent, checked through {@link Agent} against every agent the
 * shim's tests use: the in-memory fake the Task service tests run on ({@code FakeAgentContractTest}) and
 * the real guest {@code AgentService} ({@code GuestAgentContractTest}), so the fake cannot drift from it.
 * Each subclass connects an agent over ttrpc (through {@link TtrpcAgent}) and runs the {@link Program}s
 * named here its own way.
 */
@Timeout(60)
public abstract class AgentContract {

    /** How long a process may take to end, or a stream to reach its end, before a check fails. */
    private static final Duration DEADLINE = Duration.ofSeconds(20);
    private static final Agent.Stdio OUTPUT = new Agent.Stdio(false, false, true, true);
    private static final Agent.Stdio INPUT_OUTPUT = new Agent.Stdio(false, true, true, true);

    /** What a contract process does, in the few shapes the checks need. */
    public sealed interface Program {
        /** Writes {@code stdout} and {@code stderr}, then exits with {@code status}. */
        record Print(String stdout, String stderr, int status) implements Program {
        }

        /** Runs until a signal ends it (exit status 128 + signal). */
        record Sleep() implements Program {
        }

        /** Copies stdin to stdout until EOF, then exits 0. */
        record Cat() implements Program {
        }
    }

    /** The agent under test, connected for this test. */
    protected abstract Agent agent();

    /** The OCI spec that makes container {@code containerId}'s init run {@code program}. */
    protected abstract byte[] containerSpec(String containerId, Program program);

    /** The OCI Process that makes exec {@code execId} of {@code containerId} run {@code program}. */
    protected abstract byte[] execProcess(String containerId, String execId, Program program);

    @Test
    public void checkNamesTheAgentVersion() {
        Agent.Info info = agent().check(Duration.ofSeconds(5));
        assertFalse(info.version().isEmpty(), "version");
    }

    @Test
    public void aContainerPrintsItsOutputAndReportsItsExitStatus() {
        Agent agent = agent();
        int created = agent.createContainer("c1", containerSpec("c1", new Program.Print("hello", "oops", 3)), OUTPUT);
        assertTrue(created > 0, "create names the init's pid: " + created);
        assertTrue(agent.startProcess("c1", "") > 0, "start names the init's pid");
        assertEquals("hello", readAll(agent::readStdout, "c1", ""));
        assertEquals("oops", readAll(agent::readStderr, "c1", ""));
        Agent.Exit exit = agent.waitProcess("c1", "");
        assertEquals(3, exit.status());
        assertFalse(exit.oomKilled());
        assertEquals(exit.status(), agent.waitProcess("c1", "").status(), "a second wait gives the same answer");
        agent.removeContainer("c1");
        assertCode(Code.NOT_FOUND, () -> agent.waitProcess("c1", ""), "wait after remove");
    }

    @Test
    public void aSignalEndsTheProcessAndASignalAfterTheExitIsNotFound() {
        Agent agent = agent();
        agent.createContainer("c1", containerSpec("c1", new Program.Sleep()), OUTPUT);
        agent.startProcess("c1", "");
        agent.signalProcess("c1", "", 15, false);
        assertEquals(128 + 15, agent.waitProcess("c1", "").status());
        assertCode(Code.NOT_FOUND, () -> agent.signalProcess("c1", "", 15, false), "signal after the exit");
        agent.removeContainer("c1");
    }

    @Test
    public void anExecRunsBesideTheInitUntilRemoved() {
        Agent agent = agent();
        agent.createContainer("c1", containerSpec("c1", new Program.Sleep()), OUTPUT);
        agent.startProcess("c1", "");
        byte[] process = execProcess("c1", "e1", new Program.Print("from exec", "", 5));
        agent.execProcess("c1", "e1", process, OUTPUT);
        assertCode(Code.ALREADY_EXISTS, () -> agent.execProcess("c1", "e1", process, OUTPUT), "a second exec e1");
        assertTrue(agent.startProcess("c1", "e1") > 0, "start names the exec's pid");
        assertEquals("from exec", readAll(agent::readStdout, "c1", "e1"));
        assertEquals(5, agent.waitProcess("c1", "e1").status());
        agent.removeProcess("c1", "e1");
        assertCode(Code.NOT_FOUND, () -> agent.waitProcess("c1", "e1"), "wait for a removed exec");
        assertCode(Code.NOT_FOUND, () -> agent.removeProcess("c1", "e1"), "remove a removed exec");

        agent.signalProcess("c1", "", 9, false);
        assertEquals(128 + 9, agent.waitProcess("c1", "").status());
        agent.removeContainer("c1");
    }

    @Test
    public void stdinReachesTheProcessAndCloseStdinEndsIt() {
        Agent agent = agent();
        agent.createContainer("c1", containerSpec("c1", new Program.Cat()), INPUT_OUTPUT);
        agent.startProcess("c1", "");
        byte[] data = "ping\n".getBytes(UTF_8);
        while (data.length > 0) {
            int written = agent.writeStdin("c1", "", data);
            data = Arrays.copyOfRange(data, written, data.length);
        }
        agent.closeStdin("c1", "");
        assertEquals("ping\n", readAll(agent::readStdout, "c1", ""));
        assertEquals(0, agent.waitProcess("c1", "").status());
        agent.removeContainer("c1");
    }

    @Test
    public void aContainerIdInUseIsRefused() {
        Agent agent = agent();
        byte[] spec = containerSpec("c1", new Program.Sleep());
        agent.createContainer("c1", spec, OUTPUT);
        assertCode(Code.ALREADY_EXISTS, () -> agent.createContainer("c1", spec, OUTPUT), "a second create of c1");
        agent.removeContainer("c1");
    }

    @Test
    public void anUnknownContainerIsNotFound() {
        Agent agent = agent();
        assertCode(Code.NOT_FOUND, () -> agent.startProcess("nope", ""), "start");
        assertCode(Code.NOT_FOUND, () -> agent.waitProcess("nope", ""), "wait");
        assertCode(Code.NOT_FOUND, () -> agent.signalProcess("nope", "", 15, false), "signal");
        assertCode(Code.NOT_FOUND, () -> agent.readStdout("nope", "", 16), "read stdout");
        assertCode(Code.NOT_FOUND, () -> agent.removeContainer("nope"), "remove");
        assertCode(Code.NOT_FOUND, () -> agent.execProcess("nope", "e1",
                execProcess("nope", "e1", new Program.Print("", "", 0)), OUTPUT), "exec");
        assertCode(Code.NOT_FOUND, () -> agent.removeProcess("nope", "e1"), "remove an exec");
        assertCode(Code.NOT_FOUND, () -> agent.pauseContainer("nope"), "pause");
        assertCode(Code.NOT_FOUND, () -> agent.resumeContainer("nope"), "resume");
        assertCode(Code.NOT_FOUND, () -> agent.closeStdin("nope", ""), "close stdin");
        assertCode(Code.NOT_FOUND, () -> agent.writeStdin("nope", "", new byte[] {1}), "write stdin");
        assertCode(Code.NOT_FOUND, () -> agent.statsContainer("nope"), "stats");
        assertCode(Code.NOT_FOUND, () -> agent.listProcesses("nope"), "list processes");
        assertCode(Code.NOT_FOUND, () -> agent.resizePty("nope", "", 80, 24), "resize the terminal");
        assertCode(Code.NOT_FOUND, () -> agent.updateContainer("nope", "{}".getBytes(UTF_8)), "update");
    }

    @FunctionalInterface
    private interface StreamRead {
        Agent.Chunk read(String containerId, String execId, int maxLen);
    }

    /** Reads a stream to its end, as the stdio relay does, within {@link #DEADLINE}. */
    private static String readAll(StreamRead stream, String containerId, String execId) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        long deadline = System.nanoTime() + DEADLINE.toNanos();
        while (System.nanoTime() < deadline) {
            Agent.Chunk chunk = stream.read(containerId, execId, 4096);
            if (chunk.eof()) {
                return out.toString(UTF_8);
            }
            out.writeBytes(chunk.data());
        }
        throw new AssertionError("the stream of " + containerId + "/" + execId + " did not end within " + DEADLINE
                + "; read so far: " + out.toString(UTF_8));
    }

    private static void assertCode(Code expected, Executable call, String what) {
        RuntimeStatusException e = assertThrows(RuntimeStatusException.class, call, what);
        assertEquals(expected, e.code(), what + ": " + e.getMessage());
    }

    /** For subclasses: the command line that runs {@code program} in a real guest. */
    protected static String[] commandLine(Program program) {
        return switch (program) {
            case Program.Print p -> new String[] {"sh", "-c", "printf %s \"$0\"; printf %s \"$1\" >&2; exit "
                    + p.status(), p.stdout(), p.stderr()};
            case Program.Sleep s -> new String[] {"sleep", "60"};
            case Program.Cat c -> new String[] {"cat"};
        };
    }

    /**
     * For subclasses: the shim's agent over a new in-memory connection to {@code server}, with a long poll
     * of a second so a stream read or wait asks again often.
     */
    protected static Agent connect(TtrpcServer server) {
        PipeConnection[] pair = PipeConnection.pair();
        Thread.ofVirtual().start(() -> server.serve(pair[1]));
        return new TtrpcAgent(new TtrpcClient(pair[0]), Duration.ofSeconds(10), Duration.ofSeconds(1));
    }
}
