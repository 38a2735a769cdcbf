package io.javakata.guest.rpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.ByteString;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Empty;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.Parser;
import io.javakata.agent.v1.CheckRequest;
import io.javakata.agent.v1.CheckResponse;
import io.javakata.agent.v1.CloseStdinRequest;
import io.javakata.agent.v1.ContainerRequest;
import io.javakata.agent.v1.CreateContainerRequest;
import io.javakata.agent.v1.CreateContainerResponse;
import io.javakata.agent.v1.ExecProcessRequest;
import io.javakata.agent.v1.GetOOMEventResponse;
import io.javakata.agent.v1.ListProcessesResponse;
import io.javakata.agent.v1.ReadStreamRequest;
import io.javakata.agent.v1.ReadStreamResponse;
import io.javakata.agent.v1.RemoveContainerRequest;
import io.javakata.agent.v1.RemoveProcessRequest;
import io.javakata.agent.v1.ResizePtyRequest;
import io.javakata.agent.v1.SignalProcessRequest;
import io.javakata.agent.v1.StartContainerRequest;
import io.javakata.agent.v1.StartContainerResponse;
import io.javakata.agent.v1.StatsContainerResponse;
import io.javakata.agent.v1.UpdateContainerRequest;
import io.javakata.agent.v1.WaitProcessRequest;
import io.javakata.agent.v1.WaitProcessResponse;
import io.javakata.agent.v1.WriteStreamRequest;
import io.javakata.agent.v1.WriteStreamResponse;
import io.javakata.guest.container.Container;
import io.javakata.guest.container.ContainerManager;
import io.javakata.guest.container.OomWatcher;
import io.javakata.guest.container.OciCli;
import io.javakata.guest.reaper.Reaper;
import io.javakata.guest.reaper.SystemChildWaiter;
import io.javakata.sys.Processes;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.FuzzStats;
import io.javakata.ttrpc.RawCaller;
import io.javakata.ttrpc.TtrpcServer;
import io.javakata.ttrpc.proto.Response;
import io.javakata.ttrpc.transport.PipeConnection;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.reflect.Field;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;

/**
 * {@code javakata.agent.v1.Agent} as the shim reaches it, through the real ttrpc server over an in-memory pipe,
 * fed fuzzed calls: any of its 19 methods or another name, with structured requests (container and exec ids,
 * OCI specs, process specs, resources, signals, stdin data) or raw payload bytes. runc is {@code fuzz-runc.sh}:
 * fake-runc.sh's protocol, but every container and exec runs {@code cat}, whatever the fuzzed spec says. The
 * containers' cgroup files are laid out in a temporary directory as the kernel would.
 *
 * <p>Checked on every call: an answer comes within a bound (never a hang); its status is one the agent
 * documents; a success decodes as the method's response; a call on a container never created is NOT_FOUND;
 * no handler fails with an exception that is not a status (Statuses logs those). After each input every
 * container is removed and nothing remains: no container, no bundle, no process.
 */
class AgentServiceFuzzTest {

    private static final FuzzStats STATS = new FuzzStats(AgentServiceFuzzTest.class, "everyCallIsAnswered");
    private static final String SERVICE = AgentService.SERVICE;
    /** The request's own deadline: WaitProcess, ReadStdout and GetOOMEvent legitimately block until it. */
    private static final Duration DEADLINE = Duration.ofMillis(500);
    /** Past this an unanswered call is a hang. */
    private static final Duration BOUND = Duration.ofSeconds(15);
    private static final Set<Code> DOCUMENTED = EnumSet.of(Code.OK, Code.NOT_FOUND, Code.ALREADY_EXISTS,
            Code.FAILED_PRECONDITION, Code.INVALID_ARGUMENT, Code.UNIMPLEMENTED, Code.DEADLINE_EXCEEDED,
            Code.UNKNOWN);
    /** Methods that name no existing container. */
    private static final Set<String> NO_CONTAINER = Set.of("Check", "CreateContainer", "GetOOMEvent");
    private static final List<String> IDS = List.of("c1", "c2");
    private static final Map<String, Method> METHODS = new LinkedHashMap<>();
    /** JAVAKATA_FUZZ_TRACE=1 prints every call and its answer, to read what a finding's input does. */
    private static final boolean TRACE = System.getenv("JAVAKATA_FUZZ_TRACE") != null;
    private static final List<String> UNEXPECTED = new CopyOnWriteArrayList<>();
    private static final Path ROOT;
    private static final Path RUNC;
    private static final Reaper REAPER;

    /** A method: how its request parses and how a successful answer must decode. */
    private record Method(Message request, Parser<? extends Message> response) {
    }

    static {
        method("Check", CheckRequest.getDefaultInstance(), CheckResponse.parser());
        method("CreateContainer", CreateContainerRequest.getDefaultInstance(), CreateContainerResponse.parser());
        method("StartContainer", StartContainerRequest.getDefaultInstance(), StartContainerResponse.parser());
        method("WaitProcess", WaitProcessRequest.getDefaultInstance(), WaitProcessResponse.parser());
        method("SignalProcess", SignalProcessRequest.getDefaultInstance(), Empty.parser());
        method("WriteStdin", WriteStreamRequest.getDefaultInstance(), WriteStreamResponse.parser());
        method("CloseStdin", CloseStdinRequest.getDefaultInstance(), Empty.parser());
        method("ReadStdout", ReadStreamRequest.getDefaultInstance(), ReadStreamResponse.parser());
        method("ReadStderr", ReadStreamRequest.getDefaultInstance(), ReadStreamResponse.parser());
        method("RemoveContainer", RemoveContainerRequest.getDefaultInstance(), Empty.parser());
        method("ExecProcess", ExecProcessRequest.getDefaultInstance(), Empty.parser());
        method("RemoveProcess", RemoveProcessRequest.getDefaultInstance(), Empty.parser());
        method("ResizePty", ResizePtyRequest.getDefaultInstance(), Empty.parser());
        method("PauseContainer", ContainerRequest.getDefaultInstance(), Empty.parser());
        method("ResumeContainer", ContainerRequest.getDefaultInstance(), Empty.parser());
        method("UpdateContainer", UpdateContainerRequest.getDefaultInstance(), Empty.parser());
        method("StatsContainer", ContainerRequest.getDefaultInstance(), StatsContainerResponse.parser());
        method("ListProcesses", ContainerRequest.getDefaultInstance(), ListProcessesResponse.parser());
        method("GetOOMEvent", Empty.getDefaultInstance(), GetOOMEventResponse.parser());
        try {
            // As the agent is PID 1's child reaper in the guest: exited containers are reaped here.
            Processes.setChildSubreaper();
            REAPER = new Reaper(new SystemChildWaiter(), Clock.systemUTC());
            REAPER.startLoop();
            ROOT = Files.createTempDirectory("javakata-fuzz-agent");
            RUNC = ROOT.resolve("runc");
            Files.copy(Path.of(AgentServiceFuzzTest.class.getResource("/fuzz-runc.sh").toURI()), RUNC);
            assertTrue(RUNC.toFile().setExecutable(true));
            captureUnexpectedExceptions();
        } catch (Exception e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private static void method(String name, Message request, Parser<? extends Message> response) {
        METHODS.put(name, new Method(request, response));
    }

    /**
     * A handler that fails with anything but a RuntimeStatusException is logged by Statuses.toStatus, through
     * the agent's System.Logger, which prints to the stderr it saw when it was made: its stream is swapped for
     * one that keeps those lines (and drops the rest: fuzzed input makes the agent log on most calls).
     */
    private static void captureUnexpectedExceptions() throws ReflectiveOperationException {
        Field log = Class.forName("io.javakata.ttrpc.Statuses").getDeclaredField("LOG");
        log.setAccessible(true);
        Object logger = log.get(null);
        Field out = logger.getClass().getDeclaredField("out");
        out.setAccessible(true);
        out.set(logger, new PrintStream(new OutputStream() {
            private final StringBuilder line = new StringBuilder();

            @Override
            public synchronized void write(int b) {
                if (b != '\n') {
                    line.append((char) b);
                    return;
                }
                if (line.indexOf("failed with an unexpected exception") >= 0) {
                    UNEXPECTED.add(line.toString());
                }
                line.setLength(0);
            }
        }, true));
        ((System.Logger) logger).log(System.Logger.Level.WARNING, "probe failed with an unexpected exception",
                new IllegalStateException("probe"));
        assertEquals(1, UNEXPECTED.size(), "the capture of Statuses' log works");
        UNEXPECTED.clear();
    }

    @FuzzTest(maxDuration = "5s")
    void everyCallIsAnswered(FuzzedDataProvider data) throws Exception {
        STATS.execution();
        UNEXPECTED.clear();
        Agent agent = new Agent(Files.createTempDirectory(ROOT, "run"));
        try {
            Set<String> created = new HashSet<>();
            int calls = data.consumeInt(1, 8);
            for (int i = 0; i < calls; i++) {
                call(agent, data, created);
            }
        } finally {
            agent.close();
        }
        agent.assertNothingLeft();
    }

    @AfterAll
    static void report() throws IOException {
        STATS.report();
        REAPER.close();
        deleteTree(ROOT);
    }

    private static void call(Agent agent, FuzzedDataProvider data, Set<String> created) throws Exception {
        List<String> names = new ArrayList<>(METHODS.keySet());
        String name = data.consumeInt(0, 21) < names.size() ? names.get(data.consumeInt(0, names.size() - 1))
                : data.consumeString(20);
        Method method = METHODS.get(name);
        byte[] payload = method == null || data.consumeInt(0, 3) == 0 ? data.consumeBytes(256)
                : structured(method.request(), data);
        Response response;
        try {
            response = agent.caller.call(SERVICE, name, payload, DEADLINE, BOUND);
        } catch (TimeoutException e) {
            throw new AssertionError("no answer to " + name + " within " + BOUND, e);
        }
        Code code = Code.of(response.getStatus().getCode());
        String status = name + " -> " + code + " \"" + response.getStatus().getMessage() + "\"";
        if (TRACE) {
            System.err.println("fuzz-call " + status + " payload " + describe(method, payload));
        }
        assertTrue(UNEXPECTED.isEmpty(), () -> status + ": a handler failed with a non-status exception: "
                + UNEXPECTED.getFirst());
        assertTrue(DOCUMENTED.contains(code), status);
        if (code == Code.DEADLINE_EXCEEDED) {
            // Any call may outlive its deadline on a loaded machine (the first ones also wait for Jazzer to
            // instrument the classes they load); the answer must still come, and did.
            if (name.equals("CreateContainer")) {
                created.add(containerIdOf(method, payload)); // the handler may still have made it
            }
            return;
        }
        if (method == null) {
            assertEquals(Code.UNIMPLEMENTED, code, status);
            return;
        }
        Message request;
        try {
            request = method.request().getParserForType().parseFrom(payload);
        } catch (InvalidProtocolBufferException e) {
            assertEquals(Code.INVALID_ARGUMENT, code, status);
            return;
        }
        String id = containerId(request);
        if (name.equals("Check")) {
            assertEquals(Code.OK, code, status);
        } else if (!NO_CONTAINER.contains(name) && !created.contains(id)) {
            assertEquals(Code.NOT_FOUND, code, status + ": container " + id + " was never created");
        }
        if (code != Code.OK) {
            return;
        }
        method.response().parseFrom(response.getPayload());
        if (name.equals("CreateContainer")) {
            created.add(id);
            agent.layOutCgroup(id);
        } else if (name.equals("RemoveContainer")) {
            created.remove(id);
        }
    }

    private static String containerId(Message request) {
        FieldDescriptor field = request.getDescriptorForType().findFieldByName("container_id");
        return field == null ? "" : (String) request.getField(field);
    }

    private static byte[] structured(Message prototype, FuzzedDataProvider data) {
        Message.Builder builder = prototype.newBuilderForType();
        for (FieldDescriptor field : builder.getDescriptorForType().getFields()) {
            if (!field.getName().equals("container_id") && !data.consumeBoolean()) {
                continue;
            }
            switch (field.getJavaType()) {
                case STRING -> builder.setField(field, switch (field.getName()) {
                    case "container_id" -> data.consumeInt(0, 3) < IDS.size()
                            ? IDS.get(data.consumeInt(0, IDS.size() - 1)) : data.consumeString(24);
                    case "exec_id" -> data.consumeBoolean() ? "" : data.consumeBoolean() ? "e1" : data.consumeString(12);
                    default -> data.consumeString(24);
                });
                case BOOLEAN -> builder.setField(field, data.consumeBoolean());
                case INT -> builder.setField(field, data.consumeBoolean() ? data.consumeInt(0, 64) : data.consumeInt());
                case BYTE_STRING -> builder.setField(field, ByteString.copyFromUtf8(switch (field.getName()) {
                    case "oci_spec" -> pick(data, "{\"process\":{\"args\":[\"cat\"],\"cwd\":\"/\"}}",
                            data.consumeString(80), "");
                    case "process" -> pick(data, "{\"args\":[\"cat\"],\"cwd\":\"/\"}", data.consumeString(80), "");
                    case "resources" -> pick(data, "{\"memory\":{\"limit\":33554432}}", data.consumeString(80), "");
                    default -> data.consumeString(64);
                }));
                default -> { }
            }
        }
        return builder.build().toByteArray();
    }

    private static String pick(FuzzedDataProvider data, String... choices) {
        return choices[data.consumeInt(0, choices.length - 1)];
    }

    /** The request as text, for the trace of a finding (JAVAKATA_FUZZ_TRACE=1). */
    private static String describe(Method method, byte[] payload) {
        try {
            return method == null ? payload.length + " bytes"
                    : com.google.protobuf.TextFormat.shortDebugString(method.request().getParserForType()
                    .parseFrom(payload));
        } catch (InvalidProtocolBufferException e) {
            return payload.length + " bytes that do not parse";
        }
    }

    /** The id a request to {@code method} names, or "" if its payload does not parse. */
    private static String containerIdOf(Method method, byte[] payload) {
        try {
            Message request = method.request().getParserForType().parseFrom(payload);
            return (String) request.getField(request.getDescriptorForType().findFieldByName("container_id"));
        } catch (InvalidProtocolBufferException e) {
            return "";
        }
    }

    /** One input's agent: its own bundles, runc state and cgroup tree, served over an in-memory pipe. */
    private static final class Agent {

        final Path base;
        final Path cgroups;
        final ContainerManager manager;
        final TtrpcServer server = new TtrpcServer("fuzz-agent");
        final RawCaller caller;
        final long processesBefore = descendants();

        Agent(Path base) {
            this.base = base;
            cgroups = base.resolve("cgroup");
            manager = new ContainerManager(base.resolve("bundles"), new OciCli(RUNC, base.resolve("state"), REAPER),
                    REAPER, Path.of("/proc"), cgroups);
            new AgentService(manager, "fuzz", Path.of("/proc/sys"), new OomWatcher(manager, Duration.ofMillis(20)),
                    () -> { })
                    .register(server);
            PipeConnection[] pair = PipeConnection.pair();
            Thread.ofVirtual().start(() -> server.serve(pair[1]));
            caller = new RawCaller(pair[0]);
        }

        /** The files the kernel keeps in a container's cgroup, as runc would have made it. */
        void layOutCgroup(String id) throws IOException {
            Container c = manager.get(id);
            if (c.cgroup() == null) {
                return;
            }
            Path dir = Files.createDirectories(c.cgroup().dir());
            Files.writeString(dir.resolve("cgroup.procs"), c.initPid() + "\n");
            Files.writeString(dir.resolve("cpu.stat"), "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n");
            Files.writeString(dir.resolve("memory.current"), "2097152\n");
            Files.writeString(dir.resolve("memory.max"), "max\n");
            Files.writeString(dir.resolve("memory.stat"), "anon 1048576\nfile 4096\n");
            Files.writeString(dir.resolve("memory.events"), "oom 0\noom_kill 0\n");
            Files.writeString(dir.resolve("pids.current"), "1\n");
            Files.writeString(dir.resolve("pids.max"), "max\n");
        }

        void close() throws IOException {
            caller.close();
            server.close();
            removeAll();
        }

        private void removeAll() {
            for (Container c : manager.all()) {
                try {
                    manager.remove(c.id());
                } catch (RuntimeException e) {
                    throw new AssertionError("remove " + c.id() + " after the input", e);
                }
            }
        }

        /**
         * After every container was removed: no container, no bundle, no process of theirs. Polled: a handler
         * whose deadline passed was interrupted but may still be finishing (its answer already went out).
         */
        void assertNothingLeft() throws Exception {
            Path bundles = base.resolve("bundles");
            long deadline = System.nanoTime() + BOUND.toNanos();
            while (true) {
                removeAll();
                List<Path> left;
                try (Stream<Path> paths = Files.exists(bundles) ? Files.list(bundles) : Stream.empty()) {
                    left = paths.toList();
                }
                long processes = descendants();
                if (left.isEmpty() && processes <= processesBefore && manager.all().isEmpty()) {
                    break;
                }
                if (System.nanoTime() > deadline) {
                    assertEquals(List.of(), manager.all().stream().map(Container::id).toList(), "containers left");
                    assertEquals(List.of(), left, "bundles left");
                    throw new AssertionError("processes left: " + ProcessHandle.current().descendants()
                            .map(p -> p.pid() + " " + p.info().commandLine().orElse("?")).toList());
                }
                Thread.sleep(10);
            }
            deleteTree(base);
        }

        private static long descendants() {
            return ProcessHandle.current().descendants().count();
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        Files.walkFileTree(dir, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.delete(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
                Files.delete(d);
                return FileVisitResult.CONTINUE;
            }
        });
    }
}
