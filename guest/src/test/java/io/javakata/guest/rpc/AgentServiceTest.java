package io.javakata.guest.rpc;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import com.google.protobuf.ByteString;

import io.containerd.cgroups.v2.Metrics;
import io.javakata.agent.v1.ContainerRequest;
import io.javakata.agent.v1.CreateContainerRequest;
import io.javakata.agent.v1.ExecProcessRequest;
import io.javakata.agent.v1.ListProcessesResponse;
import io.javakata.agent.v1.SignalProcessRequest;
import io.javakata.agent.v1.StartContainerRequest;
import io.javakata.agent.v1.WaitProcessRequest;
import io.javakata.agent.v1.WaitProcessResponse;
import io.javakata.guest.container.Container;
import io.javakata.guest.container.ContainerManager;
import io.javakata.guest.container.FakeRunc;
import io.javakata.guest.container.OomWatcher;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;

/**
 * The agent handlers for execs, OOM, stats and processes, against fake-runc.sh and a cgroup tree in
 * a temporary directory (the containers' real /proc/&lt;pid&gt;/cgroup paths, resolved under it).
 */
@Timeout(30)
class AgentServiceTest {

    @RegisterExtension
    static final FakeRunc RUNC = new FakeRunc();

    @TempDir
    Path tmp;

    private ContainerManager manager;
    private OomWatcher oom;

    private AgentService service() throws Exception {
        return service(Duration.ofMillis(20));
    }

    /** The service, its OOM watcher reading the counters at least every {@code oomPeriod}. */
    private AgentService service(Duration oomPeriod) throws Exception {
        manager = RUNC.manager(tmp, Path.of("/proc"), tmp.resolve("cgroup"));
        oom = new OomWatcher(manager, oomPeriod);
        return new AgentService(manager, "test", Path.of("/proc/sys"), oom, () -> { });
    }

    /** GetOOMEvent, waiting on another thread: the id of the container it names. */
    private static CompletableFuture<String> oomEvent(AgentService agent) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return agent.oomEvent().getContainerId();
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
    }

    private Container run(AgentService agent, String id, String script) throws Exception {
        String spec = "{\"process\":{\"args\":[\"sh\",\"-c\",\"" + script + "\"]}}";
        agent.create(CreateContainerRequest.newBuilder().setContainerId(id).setOciSpec(ByteString.copyFromUtf8(spec))
                .build());
        agent.start(StartContainerRequest.newBuilder().setContainerId(id).build());
        Container c = manager.get(id);
        Files.createDirectories(c.cgroup().dir());
        return c;
    }

    /** A change of memory.events wakes the watcher (inotify on the cgroup directory), long before its period. */
    @Test
    void aTemplatesWarmUpContainerRunsToItsEndAndLeavesNothingBehind() throws Exception {
        AgentService agent = service();
        Path root = tmp.resolve("warm-up/rootfs");
        assertTrue(new TemplateWarmUp(agent, root).run(), "the warm-up container printed its line and exited 0");
        assertFalse(Files.exists(root), "its root is removed");
        assertThrows(io.javakata.ttrpc.RuntimeStatusException.class, () -> agent.stats(ContainerRequest.newBuilder()
                .setContainerId(TemplateWarmUp.CONTAINER_ID).build()), "the container is removed");
        // The same id can be used again: nothing of it is left in the manager or the runtime.
        assertTrue(new TemplateWarmUp(agent, root).run());
    }

    /** The network part of a template's warm-up runs once; its failure is reported, not thrown. */
    @Test
    void theNetworkWarmUpRunsAndItsFailureIsNotThrown() throws Exception {
        service();
        int[] runs = {0};
        assertTrue(new AgentService(manager, "test", Path.of("/proc/sys"), oom, () -> runs[0]++).warmUpNetwork());
        assertEquals(1, runs[0]);
        assertFalse(new AgentService(manager, "test", Path.of("/proc/sys"), oom, () -> {
            throw new IllegalStateException("no rtnetlink");
        }).warmUpNetwork());
    }

    @Test
    void anOomKillIsReportedWhenMemoryEventsChangesNotAtTheNextPeriod() throws Exception {
        AgentService agent = service(Duration.ofMinutes(10));
        Container c = run(agent, "c1", "sleep 30");
        Files.writeString(c.cgroup().dir().resolve("memory.events"), "oom 0\noom_kill 0\n");
        CompletableFuture<String> event = oomEvent(agent);
        // Whether this write comes before the watcher reads the counters or while it waits, it sees it.
        Files.writeString(c.cgroup().dir().resolve("memory.events"), "oom 1\noom_kill 1\n");
        assertEquals("c1", event.get(10, TimeUnit.SECONDS), "GetOOMEvent names the container at once");
        agent.signal(SignalProcessRequest.newBuilder().setContainerId("c1").setSignal(9).build());
        agent.waitProcess(WaitProcessRequest.newBuilder().setContainerId("c1").build());
        agent.remove(io.javakata.agent.v1.RemoveContainerRequest.newBuilder().setContainerId("c1").build());
    }

    @Test
    void waitReportsAnOomKillCountedWhileTheProcessRan() throws Exception {
        AgentService agent = service();
        Container c = run(agent, "c1", "sleep 30");
        assertTrue(c.cgroup().dir().startsWith(tmp.resolve("cgroup")), c.cgroup().dir().toString());
        CompletableFuture<String> event = oomEvent(agent);
        Files.writeString(c.cgroup().dir().resolve("memory.events"), "oom 1\noom_kill 1\n");
        assertEquals("c1", event.get(10, TimeUnit.SECONDS), "GetOOMEvent names the container");
        agent.signal(SignalProcessRequest.newBuilder().setContainerId("c1").setSignal(9).build());
        WaitProcessResponse exit = agent.waitProcess(WaitProcessRequest.newBuilder().setContainerId("c1").build());
        assertEquals(137, exit.getExitStatus());
        assertTrue(exit.getOomKilled());
        agent.remove(io.javakata.agent.v1.RemoveContainerRequest.newBuilder().setContainerId("c1").build());
    }

    @Test
    void anExecWithoutOomIsNotOomKilledAndListsWithItsExecId() throws Exception {
        AgentService agent = service();
        Container c = run(agent, "c2", "sleep 30");
        Files.writeString(c.cgroup().dir().resolve("memory.events"), "oom_kill 3\n");
        agent.exec(ExecProcessRequest.newBuilder().setContainerId("c2").setExecId("e1")
                .setProcess(ByteString.copyFromUtf8("{\"args\":[\"sleep\",\"30\"]}")).build());
        int execPid = agent.start(StartContainerRequest.newBuilder().setContainerId("c2").setExecId("e1").build())
                .getPid();
        Files.writeString(c.cgroup().dir().resolve("cgroup.procs"), c.initPid() + "\n" + execPid + "\n");
        ListProcessesResponse ps = agent.processes(ContainerRequest.newBuilder().setContainerId("c2").build());
        assertEquals(2, ps.getProcessesCount());
        assertEquals("", ps.getProcesses(0).getExecId());
        assertEquals(execPid, ps.getProcesses(1).getPid());
        assertEquals("e1", ps.getProcesses(1).getExecId());

        agent.signal(SignalProcessRequest.newBuilder().setContainerId("c2").setExecId("e1").setSignal(15).build());
        WaitProcessResponse exit = agent.waitProcess(WaitProcessRequest.newBuilder().setContainerId("c2")
                .setExecId("e1").build());
        assertEquals(143, exit.getExitStatus());
        assertFalse(exit.getOomKilled(), "oom_kill did not grow while the exec ran");
        RuntimeStatusException late = assertThrows(RuntimeStatusException.class, () -> agent.signal(
                SignalProcessRequest.newBuilder().setContainerId("c2").setExecId("e1").setSignal(15).build()));
        assertEquals(Code.NOT_FOUND, late.code());
        agent.removeProcess(io.javakata.agent.v1.RemoveProcessRequest.newBuilder().setContainerId("c2")
                .setExecId("e1").build());
        assertEquals(Code.NOT_FOUND, assertThrows(RuntimeStatusException.class, () -> agent.waitProcess(
                WaitProcessRequest.newBuilder().setContainerId("c2").setExecId("e1").build())).code());
        manager.signal("c2", 9, false);
        c.exitWithOutput().get(10, TimeUnit.SECONDS);
        manager.remove("c2");
    }

    @Test
    void statsComeFromTheContainersCgroupFiles() throws Exception {
        AgentService agent = service();
        Container c = run(agent, "c3", "sleep 30");
        Path dir = c.cgroup().dir();
        Files.writeString(dir.resolve("cpu.stat"), "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n"
                + "nr_periods 0\nnr_throttled 0\nthrottled_usec 0\n");
        Files.writeString(dir.resolve("memory.current"), "2097152\n");
        Files.writeString(dir.resolve("memory.max"), "33554432\n");
        Files.writeString(dir.resolve("memory.stat"), "anon 1048576\nfile 4096\ninactive_file 4096\npgfault 77\n");
        Files.writeString(dir.resolve("pids.current"), "2\n");
        Files.writeString(dir.resolve("pids.max"), "max\n");
        Metrics m = agent.stats(ContainerRequest.newBuilder().setContainerId("c3").build()).getMetrics();
        assertEquals(1500, m.getCpu().getUsageUsec());
        assertEquals(500, m.getCpu().getSystemUsec());
        assertEquals(2097152, m.getMemory().getUsage());
        assertEquals(33554432, m.getMemory().getUsageLimit());
        assertEquals(1048576, m.getMemory().getAnon());
        assertEquals(4096, m.getMemory().getInactiveFile());
        assertEquals(77, m.getMemory().getPgfault());
        assertEquals(2, m.getPids().getCurrent());
        assertEquals(-1L, m.getPids().getLimit(), "max is the largest uint64");
        assertEquals(-1L, m.getMemory().getSwapLimit(), "no swap controller file: unlimited");
        manager.signal("c3", 9, false);
        c.exitWithOutput().get(10, TimeUnit.SECONDS);
        manager.remove("c3");
        assertEquals(Code.NOT_FOUND, assertThrows(RuntimeStatusException.class,
                () -> agent.stats(ContainerRequest.newBuilder().setContainerId("c3").build())).code());
    }

    @Test
    void waitAndReadWithATimeoutAnswerNothingYetWhileTheProcessRuns() throws Exception {
        AgentService agent = service();
        String spec = "{\"process\":{\"args\":[\"sh\",\"-c\",\"read x; echo got $x\"]}}";
        agent.create(CreateContainerRequest.newBuilder().setContainerId("c4").setOciSpec(ByteString.copyFromUtf8(spec))
                .setStdin(true).setStdout(true).build());
        agent.start(StartContainerRequest.newBuilder().setContainerId("c4").build());
        WaitProcessRequest poll = WaitProcessRequest.newBuilder().setContainerId("c4").setTimeoutMs(100).build();
        assertTrue(agent.waitProcess(poll).getRunning(), "a long poll of a running process answers running");
        io.javakata.agent.v1.ReadStreamRequest read = io.javakata.agent.v1.ReadStreamRequest.newBuilder()
                .setContainerId("c4").setTimeoutMs(100).build();
        io.javakata.agent.v1.ReadStreamResponse nothing = agent.read(read, true);
        assertTrue(nothing.getData().isEmpty() && !nothing.getEof(), "nothing yet, not the end");

        agent.writeStdin(io.javakata.agent.v1.WriteStreamRequest.newBuilder().setContainerId("c4")
                .setData(ByteString.copyFromUtf8("hi\n")).build());
        WaitProcessResponse exit = agent.waitProcess(poll.toBuilder().setTimeoutMs(10_000).build());
        assertFalse(exit.getRunning());
        assertEquals(0, exit.getExitStatus());
        assertEquals("got hi\n", agent.read(read, true).getData().toStringUtf8());
        assertTrue(agent.read(read, true).getEof());
        agent.remove(io.javakata.agent.v1.RemoveContainerRequest.newBuilder().setContainerId("c4").build());
    }
}
