package io.javakata.shim.task;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.Empty;
import com.google.protobuf.Message;
import com.google.protobuf.Parser;
import io.containerd.events.TaskCreate;
import io.containerd.events.TaskExit;
import io.containerd.task.v2.CloseIORequest;
import io.containerd.task.v2.ConnectRequest;
import io.containerd.task.v2.ConnectResponse;
import io.containerd.task.v2.CreateTaskRequest;
import io.containerd.task.v2.CreateTaskResponse;
import io.containerd.task.v2.DeleteRequest;
import io.containerd.task.v2.DeleteResponse;
import io.containerd.task.v2.ExecProcessRequest;
import io.containerd.task.v2.KillRequest;
import io.containerd.task.v2.ShutdownRequest;
import io.containerd.task.v2.StartRequest;
import io.containerd.task.v2.StateRequest;
import io.containerd.task.v2.StateResponse;
import io.containerd.task.v2.WaitRequest;
import io.containerd.task.v2.WaitResponse;
import io.containerd.types.Mount;
import io.containerd.types.task.Status;
import io.javakata.shim.config.RuntimeConfig;
import io.javakata.shim.config.ShimContext;
import io.javakata.shim.sandbox.SandboxPaths;
import io.javakata.shim.sandbox.VmLauncher;
import io.javakata.sys.Fifos;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;
import io.javakata.ttrpc.TtrpcClient;
import io.javakata.ttrpc.TtrpcServer;
import io.javakata.ttrpc.transport.PipeConnection;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Task service as containerd drives it (over ttrpc), against a fake VM and an in-memory agent
 * served by a real ttrpc server. Needs root: rootfs and shared-directory mounts are real.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TaskServiceTest {

    private static final String TASK = "containerd.task.v2.Task";
    private static final Duration CALL = Duration.ofSeconds(20);

    @TempDir
    Path tmp;

    private Path stateDir;
    private Path image;
    private final FakeAgent agent = new FakeAgent();
    private final RecordingPublisher events = new RecordingPublisher();
    private final List<FakeHypervisor> vms = new CopyOnWriteArrayList<>();
    private TaskService service;
    private final CountDownLatch shimExited = new CountDownLatch(1);
    private TtrpcServer agentServer;
    private TtrpcServer taskServer;
    private TtrpcClient containerd;

    @BeforeEach
    void setUp() throws IOException {
        stateDir = tmp.resolve("state");
        image = Files.createDirectories(tmp.resolve("image"));
        Files.writeString(image.resolve("hello.txt"), "hi");
        RuntimeConfig defaults = RuntimeConfig.defaults();
        RuntimeConfig config = new RuntimeConfig(defaults.hypervisor(), defaults.virtiofsd(),
                new RuntimeConfig.Agent(io.javakata.hypervisor.VmSpec.AgentChannel.SERIAL, Duration.ofSeconds(10)),
                new RuntimeConfig.Runtime(stateDir, false));
        ShimContext ctx = new ShimContext("testns", "c1", "/run/containerd/containerd.sock", "", tmp, config, false);

        agentServer = new TtrpcServer("fake-agent");
        agent.register(agentServer);
        VmLauncher launcher = new VmLauncher(spec -> {
            FakeHypervisor vm = new FakeHypervisor(spec);
            vms.add(vm);
            return vm;
        }, (endpoint, timeout, giveUp) -> serve(agentServer));

        taskServer = new TtrpcServer("shim");
        service = new TaskService(ctx, events, shimExited::countDown, launcher);
        service.register(taskServer);
        containerd = new TtrpcClient(serve(taskServer));
    }

    @AfterEach
    void tearDown() throws IOException {
        containerd.close();
        taskServer.close();
        agentServer.close();
        // Whatever a failed test left mounted must not outlive it.
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String target = line.split(" ")[4];
            if (target.startsWith(tmp.toString())) {
                try {
                    io.javakata.sys.Mounts.unmount(target, io.javakata.sys.Mounts.MNT_DETACH);
                } catch (io.javakata.sys.ErrnoException e) {
                    // already gone with its parent
                }
            }
        }
    }

    private static PipeConnection serve(TtrpcServer server) {
        PipeConnection[] pair = PipeConnection.pair();
        Thread.ofVirtual().start(() -> server.serve(pair[1]));
        return pair[0];
    }

    private <R extends Message> R call(String method, Message request, Parser<R> parser) {
        return containerd.call(TASK, method, request, parser, CALL);
    }

    private Path bundle(String id, String annotations) throws IOException {
        Path bundle = Files.createDirectories(tmp.resolve("bundles").resolve(id));
        Files.writeString(bundle.resolve("config.json"), """
                {"ociVersion": "1.0.2", "process": {"args": ["uname", "-r"], "cwd": "/"},
                 "root": {"path": "rootfs"}, "hooks": {"prestart": [{"path": "/bin/true"}]},
                 "annotations": {%s},
                 "linux": {"namespaces": [{"type": "pid"}, {"type": "network", "path": "/proc/1/ns/net"},
                                          {"type": "ipc"}, {"type": "mount"}]}}
                """.formatted(annotations));
        return bundle;
    }

    private CreateTaskResponse create(String id, String stdout, String stdin) throws IOException {
        return call("Create", CreateTaskRequest.newBuilder().setId(id).setBundle(bundle(id, "").toString())
                .addRootfs(Mount.newBuilder().setType("bind").setSource(image.toString())
                        .addOptions("rbind").addOptions("rw"))
                .setStdout(stdout).setStdin(stdin).build(), CreateTaskResponse.parser());
    }

    private SandboxPaths sandboxPaths(String sandboxId) {
        return SandboxPaths.of(stateDir, "testns", sandboxId);
    }

    private static RuntimeStatusException failure(Runnable call) {
        return assertThrows(RuntimeStatusException.class, call::run);
    }

    @Test
    void lifecycleRunsInOrderAndCleansUp() throws Exception {
        agent.programs.put("c1", p -> p.exit(3));
        long pid = create("c1", "", "").getPid();
        assertEquals(ProcessHandle.current().pid(), pid, "every task reports the VMM's pid");
        SandboxPaths paths = sandboxPaths("c1");
        assertTrue(io.javakata.sys.Mounts.isMountPoint(paths.rootfs("c1")), "rootfs mounted under shared/");
        assertTrue(Files.exists(paths.rootfs("c1").resolve("hello.txt")));
        assertTrue(io.javakata.sys.Mounts.isMountPoint(paths.shared()));
        assertTrue(Files.exists(paths.sandboxJson()));
        assertEquals(Status.CREATED, state("c1").getStatus());

        JsonNode sent = new ObjectMapper().readTree(agent.specs.get("c1"));
        assertEquals("/run/javakata/shared/c1/rootfs", sent.path("root").path("path").asText());
        assertFalse(sent.has("hooks"));
        JsonNode namespaces = sent.path("linux").path("namespaces");
        assertEquals(4, namespaces.size(), "the pid, network, ipc and mount namespaces are kept");
        JsonNode network = namespaces.get(1);
        assertEquals("network", network.path("type").asText());
        assertFalse(network.has("path"), "the host netns path is dropped: the container gets the pod's netns in the guest");

        call("Start", StartRequest.newBuilder().setId("c1").build(), io.containerd.task.v2.StartResponse.parser());
        WaitResponse exit = call("Wait", WaitRequest.newBuilder().setId("c1").build(), WaitResponse.parser());
        assertEquals(3, exit.getExitStatus());
        WaitResponse again = call("Wait", WaitRequest.newBuilder().setId("c1").build(), WaitResponse.parser());
        assertEquals(exit, again, "repeated Wait gives the same answer");

        StateResponse stopped = state("c1");
        assertEquals(Status.STOPPED, stopped.getStatus());
        assertEquals(3, stopped.getExitStatus());

        RuntimeStatusException kill = failure(() -> call("Kill", KillRequest.newBuilder().setId("c1").setSignal(15)
                .build(), Empty.parser()));
        assertEquals(Code.NOT_FOUND, kill.code());
        assertTrue(kill.getMessage().contains("process already finished"), kill.getMessage());

        DeleteResponse deleted = call("Delete", DeleteRequest.newBuilder().setId("c1").build(),
                DeleteResponse.parser());
        assertEquals(3, deleted.getExitStatus());
        assertEquals(List.of("/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"), events.topics());
        TaskExit exitEvent = events.last("/tasks/exit");
        assertEquals("c1", exitEvent.getContainerId());
        assertEquals("c1", exitEvent.getId());
        assertEquals(3, exitEvent.getExitStatus());
        TaskCreate createEvent = events.last("/tasks/create");
        assertEquals(1, createEvent.getRootfsCount());

        assertFalse(Files.exists(paths.dir()), "last delete removes the sandbox state dir");
        assertTrue(vms.getFirst().stopped, "last delete stops the VM");
        assertNoMountsUnder(tmp);

        assertEquals(Code.NOT_FOUND, failure(() -> state("c1")).code());
        call("Shutdown", ShutdownRequest.newBuilder().setId("c1").build(), Empty.parser());
        assertTrue(shimExited.await(5, TimeUnit.SECONDS), "Shutdown with no task left exits the shim");
    }

    @Test
    void aShimWhoseLastTaskIsDeletedExitsOnItsOwnWhenNoShutdownComes() throws Exception {
        service.orphanExitAfter(Duration.ofMillis(300));
        agent.programs.put("c1", p -> p.exit(0));
        create("c1", "", "");
        call("Start", StartRequest.newBuilder().setId("c1").build(), io.containerd.task.v2.StartResponse.parser());
        call("Wait", WaitRequest.newBuilder().setId("c1").build(), WaitResponse.parser());
        assertFalse(shimExited.await(600, TimeUnit.MILLISECONDS), "a task left (stopped, not deleted) keeps the shim");
        call("Delete", DeleteRequest.newBuilder().setId("c1").build(), DeleteResponse.parser());
        // No Shutdown: containerd gave up on it (its shim shutdown timeout) or restarted meanwhile.
        assertTrue(shimExited.await(5, TimeUnit.SECONDS), "with no task left the shim exits without Shutdown");
    }

    @Test
    void aShimWhoseFirstCreateFailedExitsOnItsOwnWhenNoShutdownComes() throws Exception {
        service.orphanExitAfter(Duration.ofMillis(300));
        RuntimeStatusException e = failure(() -> call("Create", CreateTaskRequest.newBuilder().setId("c1")
                .setBundle(tmp.resolve("no-such-bundle").toString()).build(), CreateTaskResponse.parser()));
        assertTrue(e.getMessage().contains("no-such-bundle"), e.getMessage());
        assertTrue(shimExited.await(5, TimeUnit.SECONDS), "a shim that never got a task exits without Shutdown");
    }

    @Test
    void illegalOperationsAreRefusedWithTheirCodes() throws Exception {
        CompletableFuture<Integer> signalled = new CompletableFuture<>();
        agent.programs.put("c1", p -> {
            int signal = p.signal.join();
            signalled.complete(signal);
            p.exit(128 + signal);
        });
        create("c1", "", "");
        call("Start", StartRequest.newBuilder().setId("c1").build(), io.containerd.task.v2.StartResponse.parser());
        assertEquals(Status.RUNNING, state("c1").getStatus());

        RuntimeStatusException start = failure(() -> call("Start", StartRequest.newBuilder().setId("c1").build(),
                io.containerd.task.v2.StartResponse.parser()));
        assertEquals(Code.FAILED_PRECONDITION, start.code());
        assertTrue(start.getMessage().contains("cannot start a process in state running"), start.getMessage());
        RuntimeStatusException delete = failure(() -> call("Delete", DeleteRequest.newBuilder().setId("c1").build(),
                DeleteResponse.parser()));
        assertEquals(Code.FAILED_PRECONDITION, delete.code());
        assertTrue(delete.getMessage().contains("cannot delete a running process"), delete.getMessage());

        RuntimeStatusException unknown = failure(() -> call("Kill", KillRequest.newBuilder().setId("nope")
                .setSignal(9).build(), Empty.parser()));
        assertEquals(Code.NOT_FOUND, unknown.code());
        assertEquals("container nope not created", unknown.getMessage());
        RuntimeStatusException checkpoint = failure(() -> call("Checkpoint",
                io.containerd.task.v2.CheckpointTaskRequest.newBuilder().setId("c1").build(), Empty.parser()));
        assertEquals(Code.UNIMPLEMENTED, checkpoint.code());
        assertTrue(checkpoint.getMessage().startsWith("Checkpoint of c1: checkpoint and restore are not supported"),
                checkpoint.getMessage());

        ConnectResponse connect = call("Connect", ConnectRequest.newBuilder().setId("c1").build(),
                ConnectResponse.parser());
        assertEquals(ProcessHandle.current().pid(), connect.getShimPid());
        assertEquals(ProcessHandle.current().pid(), connect.getTaskPid());

        call("Shutdown", ShutdownRequest.newBuilder().setId("c1").build(), Empty.parser());
        assertFalse(shimExited.await(500, TimeUnit.MILLISECONDS), "Shutdown is ignored while a task remains");

        call("Kill", KillRequest.newBuilder().setId("c1").setSignal(9).build(), Empty.parser());
        assertEquals(9, signalled.get(5, TimeUnit.SECONDS));
        WaitResponse exit = call("Wait", WaitRequest.newBuilder().setId("c1").build(), WaitResponse.parser());
        assertEquals(137, exit.getExitStatus());
        call("Delete", DeleteRequest.newBuilder().setId("c1").build(), DeleteResponse.parser());
        assertEquals(List.of("/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"), events.topics());
    }

    @Test
    void containerd2sTaskV3NameServesTheSameTasksAsV2() throws Exception {
        agent.programs.put("c1", p -> p.exit(4));
        create("c1", "", "");
        StateResponse created = containerd.call(TaskService.SERVICE_V3, "State",
                StateRequest.newBuilder().setId("c1").build(), StateResponse.parser(), CALL);
        assertEquals(Status.CREATED, created.getStatus(), "a task created over v2 is seen over v3");
        containerd.call(TaskService.SERVICE_V3, "Start", StartRequest.newBuilder().setId("c1").build(),
                io.containerd.task.v2.StartResponse.parser(), CALL);
        WaitResponse exit = containerd.call(TaskService.SERVICE_V3, "Wait", WaitRequest.newBuilder().setId("c1").build(),
                WaitResponse.parser(), CALL);
        assertEquals(4, exit.getExitStatus());
        assertEquals(4, state("c1").getExitStatus(), "and v2 sees what v3 did");

        RuntimeStatusException unknown = failure(() -> containerd.call(TaskService.SERVICE_V3, "Kill",
                KillRequest.newBuilder().setId("nope").setSignal(9).build(), Empty.parser(), CALL));
        assertEquals(Code.NOT_FOUND, unknown.code(), "errors keep their codes under v3");
        RuntimeStatusException checkpoint = failure(() -> containerd.call(TaskService.SERVICE_V3, "Checkpoint",
                io.containerd.task.v2.CheckpointTaskRequest.newBuilder().setId("c1").build(), Empty.parser(), CALL));
        assertEquals(Code.UNIMPLEMENTED, checkpoint.code());
        assertTrue(checkpoint.getMessage().contains("not supported by javakata"), checkpoint.getMessage());

        containerd.call(TaskService.SERVICE_V3, "Delete", DeleteRequest.newBuilder().setId("c1").build(),
                DeleteResponse.parser(), CALL);
        assertEquals(List.of("/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"), events.topics());
        assertFalse(Files.exists(sandboxPaths("c1").dir()), "the last Delete over v3 tears the sandbox down");
    }

    @Test
    void createdButNeverStartedTaskCanBeDeleted() throws Exception {
        create("c1", "", "");
        CompletableFuture<WaitResponse> wait = containerd.callAsync(TASK, "Wait",
                WaitRequest.newBuilder().setId("c1").build(), WaitResponse.parser(), CALL);
        // The server runs each request on its own thread: give Wait time to look the task up before
        // Delete removes it (containerd, too, has Wait in flight long before it deletes).
        assertThrows(java.util.concurrent.TimeoutException.class, () -> wait.get(300, TimeUnit.MILLISECONDS));
        call("Delete", DeleteRequest.newBuilder().setId("c1").build(), DeleteResponse.parser());
        assertEquals(0, wait.get(5, TimeUnit.SECONDS).getExitStatus(), "Delete unblocks Wait");
        assertEquals(List.of("/tasks/create", "/tasks/delete"), events.topics());
        assertTrue(agent.calls.contains("RemoveContainer c1"));
        assertFalse(Files.exists(sandboxPaths("c1").dir()));
    }

    @Test
    void aFifoNobodyReadsDelaysTheExitByTheRelayBoundOnly() throws Exception {
        Path fifo = tmp.resolve("c1-stdout");
        Fifos.mkfifo(fifo, 0600);
        // Far more than a pipe holds: the relay blocks writing the FIFO, whose reader never reads.
        agent.programs.put("c1", p -> {
            p.out("x".repeat(512 * 1024));
            p.exit(6);
        });
        CompletableFuture<java.io.InputStream> reader = CompletableFuture.supplyAsync(() -> {
            try {
                return Files.newInputStream(fifo);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        });
        create("c1", fifo.toString(), "");
        try (java.io.InputStream idle = reader.get(10, TimeUnit.SECONDS)) {
            call("Start", StartRequest.newBuilder().setId("c1").build(), io.containerd.task.v2.StartResponse.parser());
            long start = System.nanoTime();
            WaitResponse exit = call("Wait", WaitRequest.newBuilder().setId("c1").build(), WaitResponse.parser());
            Duration took = Duration.ofNanos(System.nanoTime() - start);
            assertEquals(6, exit.getExitStatus());
            Duration bound = io.javakata.shim.container.TaskProcess.RELAY_DRAIN;
            assertTrue(took.compareTo(bound.minusMillis(500)) >= 0, "the exit waited for the relay: " + took);
            assertTrue(took.compareTo(bound.plusSeconds(5)) < 0, "but not for long: " + took);
        }
        call("Delete", DeleteRequest.newBuilder().setId("c1").build(), DeleteResponse.parser());
    }

    @Test
    void everyLineReachesTheFifoBeforeTheExitIsReported() throws Exception {
        Path fifo = tmp.resolve("c1-stdout");
        Fifos.mkfifo(fifo, 0600);
        int lines = 10_000;
        agent.programs.put("c1", p -> {
            StringBuilder chunk = new StringBuilder();
            for (int i = 1; i <= lines; i++) {
                chunk.append("line ").append(i).append('\n');
                if (i % 10 == 0) {
                    p.out(chunk.toString());
                    chunk.setLength(0);
                }
            }
            p.exit(0);
        });
        List<String> received = new ArrayList<>();
        CompletableFuture<Void> readerDone = new CompletableFuture<>();
        Thread.ofVirtual().start(() -> {
            try (BufferedReader reader = new BufferedReader(new InputStreamReader(
                    Files.newInputStream(fifo), StandardCharsets.UTF_8))) {
                for (String line = reader.readLine(); line != null; line = reader.readLine()) {
                    received.add(line);
                }
                readerDone.complete(null);
            } catch (IOException e) {
                readerDone.completeExceptionally(e);
            }
        });
        CompletableFuture<Boolean> drainedAtExit = new CompletableFuture<>();
        events.hook = (topic, event) -> {
            if (topic.equals("/tasks/exit")) {
                drainedAtExit.complete(agent.process("c1").stdoutEofDelivered.get()
                        && agent.process("c1").stdout.size() == 1);
            }
        };

        create("c1", fifo.toString(), "");
        call("Start", StartRequest.newBuilder().setId("c1").build(), io.containerd.task.v2.StartResponse.parser());
        call("Wait", WaitRequest.newBuilder().setId("c1").build(), WaitResponse.parser());

        assertTrue(drainedAtExit.get(5, TimeUnit.SECONDS), "the relay read all output before TaskExit");
        readerDone.get(5, TimeUnit.SECONDS);
        assertEquals(lines, received.size());
        assertEquals("line 1", received.getFirst());
        assertEquals("line 10000", received.getLast());
        call("Delete", DeleteRequest.newBuilder().setId("c1").build(), DeleteResponse.parser());
    }

    @Test
    void outputWrittenWhileContainerdsReaderIsAwayWaitsInTheFifo() throws Exception {
        Path fifo = tmp.resolve("c1-stdout");
        Fifos.mkfifo(fifo, 0600);
        var outage = new CompletableFuture<Void>();
        var queued = new CompletableFuture<Void>();
        var end = new CompletableFuture<Void>();
        agent.programs.put("c1", p -> {
            p.out("before\n");
            outage.join();
            // "fence" is read from the guest only after "during" was written to the FIFO.
            p.out("during\n");
            p.out("fence\n");
            queued.complete(null);
            end.join();
            p.exit(0);
        });
        CompletableFuture<java.io.InputStream> first = openForReading(fifo);
        create("c1", fifo.toString(), "");
        call("Start", StartRequest.newBuilder().setId("c1").build(), io.containerd.task.v2.StartResponse.parser());
        try (var reader = new BufferedReader(new InputStreamReader(first.get(10, TimeUnit.SECONDS),
                StandardCharsets.UTF_8))) {
            assertEquals("before", reader.readLine());
        }
        // containerd is gone (its read end closed); the process writes on.
        outage.complete(null);
        queued.get(10, TimeUnit.SECONDS);
        Await.until("the relay reads the output", Duration.ofSeconds(10), () -> agent.process("c1").stdout.isEmpty());
        // containerd is back: it opens the FIFO again and finds what was written meanwhile.
        try (var reader = new BufferedReader(new InputStreamReader(openForReading(fifo).get(10, TimeUnit.SECONDS),
                StandardCharsets.UTF_8))) {
            assertEquals("during", reader.readLine());
            assertEquals("fence", reader.readLine());
            end.complete(null);
            assertEquals(0, call("Wait", WaitRequest.newBuilder().setId("c1").build(), WaitResponse.parser())
                    .getExitStatus());
            assertNull(reader.readLine(), "end of the output");
        }
        call("Delete", DeleteRequest.newBuilder().setId("c1").build(), DeleteResponse.parser());
    }

    /** Opens a FIFO for reading on another thread: open(2) blocks until the relay opens its write end. */
    private static CompletableFuture<java.io.InputStream> openForReading(Path fifo) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return Files.newInputStream(fifo);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        });
    }

    @Test
    void stdinIsCopiedToTheGuestAndClosedAtEof() throws Exception {
        Path fifo = tmp.resolve("c1-stdin");
        Fifos.mkfifo(fifo, 0600);
        agent.programs.put("c1", p -> {
            p.stdinClosed.join();
            p.exit(0);
        });
        create("c1", "", fifo.toString());
        call("Start", StartRequest.newBuilder().setId("c1").build(), io.containerd.task.v2.StartResponse.parser());
        try (OutputStream out = Files.newOutputStream(fifo)) {
            out.write("hello guest\n".getBytes(StandardCharsets.UTF_8));
        }
        call("Wait", WaitRequest.newBuilder().setId("c1").build(), WaitResponse.parser());
        assertArrayEquals("hello guest\n".getBytes(StandardCharsets.UTF_8), agent.process("c1").stdinBytes());
        call("CloseIO", CloseIORequest.newBuilder().setId("c1").setStdin(true).build(), Empty.parser());
        call("Delete", DeleteRequest.newBuilder().setId("c1").build(), DeleteResponse.parser());
    }

    @Test
    void failedCreateLeavesNoMountOrDirectoryBehind() throws Exception {
        agent.failCreateWith = "oci_spec: process.args must not be empty";
        RuntimeStatusException e = failure(() -> {
            try {
                create("c1", "", "");
            } catch (IOException io) {
                throw new AssertionError(io);
            }
        });
        assertEquals(Code.INVALID_ARGUMENT, e.code(), "the guest's code reaches containerd unchanged");
        assertTrue(e.getMessage().startsWith("create container c1: "), e.getMessage());
        assertTrue(e.getMessage().contains("process.args must not be empty"), e.getMessage());

        assertNoMountsUnder(tmp);
        assertFalse(Files.exists(sandboxPaths("c1").dir()), "no sandbox directory left");
        assertTrue(vms.getFirst().stopped, "the VM started for this task is stopped");
        assertTrue(events.events.isEmpty(), "no event for a task that was never created");
        assertTrue(Files.exists(image.resolve("hello.txt")), "the image itself is untouched");

        agent.failCreateWith = null;
        create("c1", "", "");
        assertEquals(2, vms.size(), "a later Create starts afresh");
        call("Delete", DeleteRequest.newBuilder().setId("c1").build(), DeleteResponse.parser());
    }

    @Test
    void agentThatNeverAnswersFailsCreateWithTheConsoleTailAndLeavesNothing() throws Exception {
        agent.checkUnavailable = true;
        RuntimeStatusException e = failure(() -> {
            try {
                create("c1", "", "");
            } catch (IOException io) {
                throw new AssertionError(io);
            }
        });
        assertEquals(Code.DEADLINE_EXCEEDED, e.code());
        assertTrue(e.getMessage().startsWith("create sandbox c1: agent did not answer Check within "), e.getMessage());
        assertTrue(e.getMessage().contains("Kernel panic - not syncing: fake"), e.getMessage());
        assertFalse(Files.exists(sandboxPaths("c1").dir()));
        assertNoMountsUnder(tmp);
        assertTrue(vms.getFirst().stopped);
    }

    @Test
    void podContainersShareOneVmUntilTheLastIsDeleted() throws Exception {
        createIn("pod1", """
                "io.kubernetes.cri.container-type": "sandbox", "io.kubernetes.cri.sandbox-id": "pod1"
                """);
        createIn("app", """
                "io.kubernetes.cri.container-type": "container", "io.kubernetes.cri.sandbox-id": "pod1"
                """);
        assertEquals(1, vms.size(), "one VM per pod");
        SandboxPaths paths = sandboxPaths("pod1");
        assertTrue(io.javakata.sys.Mounts.isMountPoint(paths.rootfs("app")));

        call("Delete", DeleteRequest.newBuilder().setId("app").build(), DeleteResponse.parser());
        call("Shutdown", ShutdownRequest.newBuilder().setId("app").build(), Empty.parser());
        assertFalse(vms.getFirst().stopped, "the pod's VM outlives one container");
        assertFalse(Files.exists(paths.containerDir("app")));
        assertTrue(Files.exists(paths.rootfs("pod1")));
        assertFalse(shimExited.await(300, TimeUnit.MILLISECONDS));

        call("Delete", DeleteRequest.newBuilder().setId("pod1").build(), DeleteResponse.parser());
        assertTrue(vms.getFirst().stopped);
        assertFalse(Files.exists(paths.dir()));
        call("Shutdown", ShutdownRequest.newBuilder().setId("pod1").build(), Empty.parser());
        assertTrue(shimExited.await(5, TimeUnit.SECONDS));
    }

    /**
     * The step for once the pod has started (the warm shims' top-up) runs once, when no task has started for the
     * quiet period: not while the pod's tasks keep starting (execs do not count), and not again after a later task.
     */
    @Test
    void theStepAfterThePodStartedRunsOnceWhenNoTaskHasStartedForAWhile() throws Exception {
        var ran = new CountDownLatch(1);
        var twice = new CountDownLatch(2);
        service.podQuietFor(Duration.ofSeconds(2));
        service.afterPodStart(() -> {
            ran.countDown();
            twice.countDown();
        });
        for (String id : List.of("pod1", "app", "app2")) {
            agent.programs.put(id, p -> p.exit(128 + p.signal.join()));
            createIn(id, """
                    "io.kubernetes.cri.container-type": "%s", "io.kubernetes.cri.sandbox-id": "pod1"
                    """.formatted(id.equals("pod1") ? "sandbox" : "container"));
        }
        call("Start", StartRequest.newBuilder().setId("pod1").build(), io.containerd.task.v2.StartResponse.parser());
        agent.programs.put("pod1/e1", p -> p.exit(0));
        exec("pod1", "e1");
        call("Start", StartRequest.newBuilder().setId("pod1").setExecId("e1").build(),
                io.containerd.task.v2.StartResponse.parser());
        long beforeLastStart = System.nanoTime();
        call("Start", StartRequest.newBuilder().setId("app").build(), io.containerd.task.v2.StartResponse.parser());
        assertTrue(ran.await(30, TimeUnit.SECONDS), "once no task has started for the quiet period");
        assertTrue(System.nanoTime() - beforeLastStart >= Duration.ofSeconds(2).toNanos(), "not before it");
        call("Start", StartRequest.newBuilder().setId("app2").build(), io.containerd.task.v2.StartResponse.parser());
        assertFalse(twice.await(3, TimeUnit.SECONDS), "once only");
        service.runPendingAfterPodStart();
        assertEquals(1, twice.getCount(), "not again when the shim exits");
        for (String id : List.of("app2", "app", "pod1")) {
            killAndDelete(id);
        }
    }

    /** A shim that exits before its pod counts as started runs the step on its way out, once. */
    @Test
    void theStepAfterThePodStartedRunsWhenTheShimExitsBeforeIt() throws Exception {
        var runs = new java.util.concurrent.atomic.AtomicInteger();
        service.afterPodStart(runs::incrementAndGet);
        startLongRunning("c1");
        assertEquals(0, runs.get(), "not within the quiet period");
        service.runPendingAfterPodStart();
        service.runPendingAfterPodStart();
        assertEquals(1, runs.get());
        killAndDelete("c1");
    }

    private void createIn(String id, String annotations) throws IOException {
        call("Create", CreateTaskRequest.newBuilder().setId(id).setBundle(bundle(id, annotations).toString())
                .addRootfs(Mount.newBuilder().setType("bind").setSource(image.toString()).addOptions("rbind"))
                .build(), CreateTaskResponse.parser());
    }

    @Test
    void containerOfAForeignSandboxIsRefused() throws Exception {
        Path bundle = bundle("c2", """
                "io.kubernetes.cri.container-type": "container", "io.kubernetes.cri.sandbox-id": "pod9"
                """);
        RuntimeStatusException e = failure(() -> call("Create", CreateTaskRequest.newBuilder().setId("c2")
                .setBundle(bundle.toString()).build(), CreateTaskResponse.parser()));
        assertEquals(Code.FAILED_PRECONDITION, e.code());
        assertTrue(e.getMessage().contains("pod9"), e.getMessage());
        assertTrue(vms.isEmpty());
    }

    private static final String PROCESS_JSON = "{\"args\":[\"sh\",\"-c\",\"echo $$\"],\"cwd\":\"/\"}";

    private Empty exec(String id, String execId) {
        return call("Exec", ExecProcessRequest.newBuilder().setId(id).setExecId(execId)
                .setSpec(com.google.protobuf.Any.newBuilder().setTypeUrl(Protos.OCI_PROCESS)
                        .setValue(com.google.protobuf.ByteString.copyFromUtf8(PROCESS_JSON)))
                .build(), Empty.parser());
    }

    private void startLongRunning(String id) throws IOException {
        agent.programs.put(id, p -> p.exit(128 + p.signal.join()));
        create(id, "", "");
        call("Start", StartRequest.newBuilder().setId(id).build(), io.containerd.task.v2.StartResponse.parser());
    }

    private void killAndDelete(String id) {
        call("Kill", KillRequest.newBuilder().setId(id).setSignal(9).build(), Empty.parser());
        call("Wait", WaitRequest.newBuilder().setId(id).build(), WaitResponse.parser());
        call("Delete", DeleteRequest.newBuilder().setId(id).build(), DeleteResponse.parser());
    }

    @Test
    void execRunsBesideTheInitWithItsEventsInOrder() throws Exception {
        startLongRunning("c1");
        agent.programs.put("c1/e1", p -> p.exit(7));
        exec("c1", "e1");
        assertTrue(agent.calls.contains("ExecProcess c1/e1 " + PROCESS_JSON), "the OCI Process JSON passes through");
        assertEquals(Code.ALREADY_EXISTS, failure(() -> exec("c1", "e1")).code());
        StateResponse created = call("State", StateRequest.newBuilder().setId("c1").setExecId("e1").build(),
                StateResponse.parser());
        assertEquals(Status.CREATED, created.getStatus());

        long pid = call("Start", StartRequest.newBuilder().setId("c1").setExecId("e1").build(),
                io.containerd.task.v2.StartResponse.parser()).getPid();
        assertEquals(200, pid, "an exec reports its guest pid");
        WaitResponse exit = call("Wait", WaitRequest.newBuilder().setId("c1").setExecId("e1").build(),
                WaitResponse.parser());
        assertEquals(7, exit.getExitStatus());
        StateResponse stopped = call("State", StateRequest.newBuilder().setId("c1").setExecId("e1").build(),
                StateResponse.parser());
        assertEquals(Status.STOPPED, stopped.getStatus());
        assertEquals("e1", stopped.getId());
        assertEquals("e1", stopped.getExecId());
        assertEquals(7, stopped.getExitStatus());
        assertEquals(Status.RUNNING, state("c1").getStatus(), "the init is untouched");

        assertEquals(Code.NOT_FOUND, failure(() -> call("Kill", KillRequest.newBuilder().setId("c1").setExecId("e1")
                .setSignal(15).build(), Empty.parser())).code(), "kill of an exited exec");
        assertEquals(7, call("Delete", DeleteRequest.newBuilder().setId("c1").setExecId("e1").build(),
                DeleteResponse.parser()).getExitStatus());
        assertTrue(agent.calls.contains("RemoveProcess c1/e1"));
        RuntimeStatusException again = failure(() -> call("Delete", DeleteRequest.newBuilder().setId("c1")
                .setExecId("e1").build(), DeleteResponse.parser()));
        assertEquals(Code.NOT_FOUND, again.code());
        assertEquals("exec e1 not found in container c1", again.getMessage());
        assertEquals(Code.NOT_FOUND, failure(() -> call("Kill", KillRequest.newBuilder().setId("c1").setExecId("e1")
                .setSignal(15).build(), Empty.parser())).code(), "kill of a deleted exec");
        assertEquals(Code.NOT_FOUND, failure(() -> call("State", StateRequest.newBuilder().setId("c1")
                .setExecId("nope").build(), StateResponse.parser())).code());

        killAndDelete("c1");
        assertEquals(List.of("/tasks/create", "/tasks/start", "/tasks/exec-added", "/tasks/exec-started",
                "/tasks/exit", "/tasks/exit", "/tasks/delete"), events.topics());
        TaskExit execExit = (TaskExit) events.events.get(4).message();
        assertEquals("c1", execExit.getContainerId());
        assertEquals("e1", execExit.getId(), "TaskExit.id is the exec id");
        assertEquals(7, execExit.getExitStatus());
        io.containerd.events.TaskExecStarted started = events.last("/tasks/exec-started");
        assertEquals(200, started.getPid());
        assertEquals("e1", started.getExecId());
    }

    @Test
    void execIsRefusedWithTheCodesContainerdExpects() throws Exception {
        assertEquals(Code.NOT_FOUND, failure(() -> exec("nope", "e1")).code(), "unknown container");
        agent.programs.put("c1", p -> p.exit(0));
        create("c1", "", "");
        RuntimeStatusException badSpec = failure(() -> call("Exec", ExecProcessRequest.newBuilder().setId("c1")
                .setExecId("e1").setSpec(com.google.protobuf.Any.newBuilder().setTypeUrl("x/Spec")).build(),
                Empty.parser()));
        assertEquals(Code.INVALID_ARGUMENT, badSpec.code());
        assertTrue(badSpec.getMessage().contains("type_url=\"x/Spec\""), badSpec.getMessage());
        call("Start", StartRequest.newBuilder().setId("c1").build(), io.containerd.task.v2.StartResponse.parser());
        call("Wait", WaitRequest.newBuilder().setId("c1").build(), WaitResponse.parser());
        RuntimeStatusException late = failure(() -> exec("c1", "e2"));
        assertEquals(Code.FAILED_PRECONDITION, late.code(), "exec after the init exited");
        assertEquals("cannot exec a process in state stopped", late.getMessage());
        call("Delete", DeleteRequest.newBuilder().setId("c1").build(), DeleteResponse.parser());
    }

    @Test
    void pauseResumeUpdateStatsAndPids() throws Exception {
        startLongRunning("c1");
        call("Pause", io.containerd.task.v2.PauseRequest.newBuilder().setId("c1").build(), Empty.parser());
        assertEquals(Status.PAUSED, state("c1").getStatus());
        RuntimeStatusException twice = failure(() -> call("Pause",
                io.containerd.task.v2.PauseRequest.newBuilder().setId("c1").build(), Empty.parser()));
        assertEquals(Code.FAILED_PRECONDITION, twice.code());
        assertEquals(Code.FAILED_PRECONDITION, failure(() -> exec("c1", "e1")).code(), "no exec while paused");
        call("Resume", io.containerd.task.v2.ResumeRequest.newBuilder().setId("c1").build(), Empty.parser());
        assertEquals(Status.RUNNING, state("c1").getStatus());

        String resources = "{\"memory\":{\"limit\":33554432}}";
        call("Update", io.containerd.task.v2.UpdateTaskRequest.newBuilder().setId("c1")
                .setResources(com.google.protobuf.Any.newBuilder().setTypeUrl(Protos.OCI_LINUX_RESOURCES)
                        .setValue(com.google.protobuf.ByteString.copyFromUtf8(resources))).build(), Empty.parser());
        assertTrue(agent.calls.contains("UpdateContainer c1 " + resources));

        com.google.protobuf.Any stats = call("Stats", io.containerd.task.v2.StatsRequest.newBuilder().setId("c1")
                .build(), io.containerd.task.v2.StatsResponse.parser()).getStats();
        assertEquals("io.containerd.cgroups.v2.Metrics", stats.getTypeUrl());
        assertEquals(4096, io.containerd.cgroups.v2.Metrics.parseFrom(stats.getValue()).getMemory().getUsage());

        exec("c1", "e1");
        io.containerd.task.v2.PidsResponse pids = call("Pids", io.containerd.task.v2.PidsRequest.newBuilder()
                .setId("c1").build(), io.containerd.task.v2.PidsResponse.parser());
        assertEquals(2, pids.getProcessesCount());
        assertFalse(pids.getProcesses(0).hasInfo(), "the init has no details");
        assertEquals("containerd.runc.v1.ProcessDetails", pids.getProcesses(1).getInfo().getTypeUrl());
        assertEquals(com.google.protobuf.ByteString.copyFrom(new byte[] {0x0a, 2, 'e', '1'}),
                pids.getProcesses(1).getInfo().getValue(), "ProcessDetails{1: \"e1\"}");
        call("Delete", DeleteRequest.newBuilder().setId("c1").setExecId("e1").build(), DeleteResponse.parser());

        killAndDelete("c1");
        assertEquals(List.of("/tasks/create", "/tasks/start", "/tasks/paused", "/tasks/resumed",
                "/tasks/exec-added", "/tasks/exit", "/tasks/delete"), events.topics());
        assertEquals(List.of("PauseContainer c1", "ResumeContainer c1"), agent.calls.stream()
                .filter(c -> c.startsWith("PauseContainer") || c.startsWith("ResumeContainer")).toList());
    }

    @Test
    void anOomKillIsPublishedBeforeTheExitAndBeforeWaitReturns() throws Exception {
        agent.programs.put("c1", p -> {
            p.oomKilled = true;
            p.exit(137);
        });
        create("c1", "", "");
        call("Start", StartRequest.newBuilder().setId("c1").build(), io.containerd.task.v2.StartResponse.parser());
        WaitResponse exit = call("Wait", WaitRequest.newBuilder().setId("c1").build(), WaitResponse.parser());
        assertEquals(137, exit.getExitStatus());
        assertEquals(List.of("/tasks/create", "/tasks/start", "/tasks/oom", "/tasks/exit"), events.topics(),
                "oom already out when Wait answered");
        io.containerd.events.TaskOOM oom = events.last("/tasks/oom");
        assertEquals("c1", oom.getContainerId());
        call("Delete", DeleteRequest.newBuilder().setId("c1").build(), DeleteResponse.parser());
    }

    @Test
    void anOomKillOfAnotherProcessComesFromTheAgentsLongPoll() throws Exception {
        startLongRunning("c1");
        agent.oomEvents.add("c1");
        Await.until("/tasks/oom published", Duration.ofSeconds(10), () -> events.topics().contains("/tasks/oom"));
        assertEquals("c1", ((io.containerd.events.TaskOOM) events.last("/tasks/oom")).getContainerId());
        killAndDelete("c1");
    }

    private StateResponse state(String id) {
        return call("State", StateRequest.newBuilder().setId(id).build(), StateResponse.parser());
    }

    private static void assertNoMountsUnder(Path dir) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String target = line.split(" ")[4];
            assertFalse(target.startsWith(dir.toString()), "left mounted: " + target);
        }
    }

    @Test
    void closingTheServiceStopsTheVmEvenWithTasksLeft() throws Exception {
        agent.programs.put("c1", p -> p.exit(0));
        create("c1", "", "");
        SandboxPaths paths = sandboxPaths("c1");
        assertTrue(io.javakata.sys.Mounts.isMountPoint(paths.rootfs("c1")));

        service.close();
        assertTrue(vms.getFirst().stopped, "SIGTERM must not orphan the VM of a task still present");
        assertFalse(io.javakata.sys.Mounts.isMountPoint(paths.rootfs("c1")), "the rootfs is unmounted");
        assertFalse(Files.exists(paths.dir()), "the sandbox state is gone");
        service.close(); // idempotent
    }

    /** Issue 8 item 6: a task still running when the shim goes reports its exit before close() returns. */
    @Test
    void closingTheServiceReportsTheExitOfEveryRunningTask() throws Exception {
        startLongRunning("c1");
        service.close();
        assertTrue(events.topics().contains("/tasks/exit"), "TaskExit of the running task: " + events.topics());
        TaskExit exit = events.last("/tasks/exit");
        assertEquals("c1", exit.getContainerId());
        assertTrue(exit.getExitStatus() != 0, "a task the VM took with it did not exit 0: " + exit.getExitStatus());
    }

    /** Issue 8 item 3: a dead virtiofsd is a dead pod: every task exits (lost, 255) at once and the VM stops. */
    @Test
    void aDeadVirtiofsdEndsEveryTaskOfThePod() throws Exception {
        startLongRunning("c1");
        long before = System.nanoTime();
        vms.getFirst().backendExit.complete("virtiofsd pid 4242 exited with code 1 while the VM ran");
        WaitResponse exit = call("Wait", WaitRequest.newBuilder().setId("c1").build(), WaitResponse.parser());
        assertEquals(255, exit.getExitStatus());
        assertTrue(Duration.ofNanos(System.nanoTime() - before).compareTo(Duration.ofSeconds(5)) < 0,
                "noticed at once, not after a check round");
        awaitStopped(vms.getFirst(), "the VM is stopped");
        assertEquals("c1", events.<TaskExit>last("/tasks/exit").getContainerId());
        RuntimeStatusException create = failure(() -> {
            try {
                createIn("c2", "\"io.kubernetes.cri.sandbox-id\": \"c1\"");
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        assertEquals(Code.FAILED_PRECONDITION, create.code());
        assertTrue(create.getMessage().contains("is dead: virtiofsd pid 4242 exited"), create.getMessage());
        call("Delete", DeleteRequest.newBuilder().setId("c1").build(), DeleteResponse.parser());
        assertFalse(Files.exists(sandboxPaths("c1").dir()), "the pod's state is gone after its last delete");
    }

    /** Issue 8 item 3: an agent that answers no Check (a frozen guest) makes the pod dead within 10 s. */
    @Test
    void anAgentThatStopsAnsweringIsDeclaredDeadWithinTwentySeconds() throws Exception {
        startLongRunning("c1");
        long before = System.nanoTime();
        agent.checkUnavailable = true;
        WaitResponse exit = containerd.call(TASK, "Wait", WaitRequest.newBuilder().setId("c1").build(),
                WaitResponse.parser(), Duration.ofSeconds(40));
        Duration took = Duration.ofNanos(System.nanoTime() - before);
        assertEquals(255, exit.getExitStatus());
        // The watchdog's 15 s of silence (PodWatchdog.UNRESPONSIVE), then at most one more check period.
        assertTrue(took.compareTo(Duration.ofSeconds(20)) < 0, "declared dead after " + took);
        assertTrue(took.compareTo(Duration.ofSeconds(12)) > 0, "a few failed checks are tolerated: " + took);
        awaitStopped(vms.getFirst(), "the VM is stopped");
    }

    /** Issue 8 item 3: Kill falls back to stopping the VM when the agent cannot deliver the signal. */
    @Test
    void killStopsTheVmWhenTheAgentCannotSignal() throws Exception {
        startLongRunning("c1");
        agent.signalUnavailable = true;
        call("Kill", KillRequest.newBuilder().setId("c1").setSignal(9).build(), Empty.parser());
        WaitResponse exit = call("Wait", WaitRequest.newBuilder().setId("c1").build(), WaitResponse.parser());
        assertEquals(255, exit.getExitStatus());
        awaitStopped(vms.getFirst(), "the VM stop was the kill");
    }

    /**
     * Waits up to 5 s for {@code vm} to be stopped: a dead pod's agent connection closes first (so the exits go
     * out at once) and its VM is stopped right after, so Wait may return a moment before.
     */
    private static void awaitStopped(FakeHypervisor vm, String message) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (!vm.stopped && System.nanoTime() < deadline) {
            vm.onExit().handle((code, e) -> code).completeOnTimeout(null, 20, TimeUnit.MILLISECONDS).join();
        }
        assertTrue(vm.stopped, message);
    }
}
