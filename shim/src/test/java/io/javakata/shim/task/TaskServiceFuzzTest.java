package io.javakata.shim.task;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Empty;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.Parser;
import io.containerd.task.v2.CheckpointTaskRequest;
import io.containerd.task.v2.CloseIORequest;
import io.containerd.task.v2.ConnectRequest;
import io.containerd.task.v2.ConnectResponse;
import io.containerd.task.v2.CreateTaskRequest;
import io.containerd.task.v2.CreateTaskResponse;
import io.containerd.task.v2.DeleteRequest;
import io.containerd.task.v2.DeleteResponse;
import io.containerd.task.v2.ExecProcessRequest;
import io.containerd.task.v2.KillRequest;
import io.containerd.task.v2.PauseRequest;
import io.containerd.task.v2.PidsRequest;
import io.containerd.task.v2.PidsResponse;
import io.containerd.task.v2.ResizePtyRequest;
import io.containerd.task.v2.ResumeRequest;
import io.containerd.task.v2.ShutdownRequest;
import io.containerd.task.v2.StartRequest;
import io.containerd.task.v2.StartResponse;
import io.containerd.task.v2.StateRequest;
import io.containerd.task.v2.StateResponse;
import io.containerd.task.v2.StatsRequest;
import io.containerd.task.v2.StatsResponse;
import io.containerd.task.v2.UpdateTaskRequest;
import io.containerd.task.v2.WaitRequest;
import io.containerd.task.v2.WaitResponse;
import io.containerd.types.Mount;
import io.javakata.shim.config.RuntimeConfig;
import io.javakata.shim.config.ShimContext;
import io.javakata.shim.log.ShimLogging;
import io.javakata.shim.rootfs.Mounter;
import io.javakata.shim.sandbox.VmLauncher;
import io.javakata.sys.ErrnoException;
import io.javakata.sys.Mounts;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.FuzzStats;
import io.javakata.ttrpc.RawCaller;
import io.javakata.ttrpc.TtrpcServer;
import io.javakata.ttrpc.proto.Response;
import io.javakata.ttrpc.transport.PipeConnection;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
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
 * {@code containerd.task.v2.Task} as containerd reaches it, through the real ttrpc server over an in-memory
 * pipe, fed fuzzed calls: any of the 17 methods or another name, with structured requests (ids, bundles,
 * rootfs mounts, stdio paths and specs picked or fuzzed) or raw payload bytes; the VM and its agent are the
 * fakes {@link TaskServiceTest} uses. Needs root, as TaskServiceTest does: rootfs mounts are real.
 *
 * <p>Checked on every call: an answer comes within a bound (never a hang); its status is one the service
 * documents; a success decodes as the method's response; a call on a container never created is NOT_FOUND;
 * no handler fails with an exception that is not a status (Statuses logs those; the shim's log is searched). After each input the service
 * is closed and nothing remains: no mount under the input's directory, no sandbox state, and nothing written
 * outside the sandbox's own directory.
 */
class TaskServiceFuzzTest {

    private static final FuzzStats STATS = new FuzzStats(TaskServiceFuzzTest.class, "everyCallIsAnswered");
    private static final String SERVICE = TaskService.SERVICE;
    /** The request's own deadline: Wait on a running task legitimately blocks until it. */
    private static final Duration DEADLINE = Duration.ofSeconds(1);
    /** Past this an unanswered call is a hang. */
    private static final Duration BOUND = Duration.ofSeconds(15);
    private static final Set<Code> DOCUMENTED = EnumSet.of(Code.OK, Code.NOT_FOUND, Code.ALREADY_EXISTS,
            Code.FAILED_PRECONDITION, Code.INVALID_ARGUMENT, Code.UNIMPLEMENTED, Code.DEADLINE_EXCEEDED,
            Code.UNKNOWN, Code.UNAVAILABLE);
    private static final Map<String, Method> METHODS = new LinkedHashMap<>();
    /** JAVAKATA_FUZZ_TRACE=1 prints every call and its answer, to read what a finding's input does. */
    private static final boolean TRACE = System.getenv("JAVAKATA_FUZZ_TRACE") != null;
    private static final List<String> IDS = List.of("c1", "c2", "pod1", "app");
    private static final Path ROOT;
    private static final List<String> UNEXPECTED = new CopyOnWriteArrayList<>();
    private static final ShimLogging.Settings LOGGING = ShimLogging.settings();

    /** A method: how its request parses and how a successful answer must decode. */
    private record Method(Message request, Parser<? extends Message> response) {
    }

    static {
        method("Create", CreateTaskRequest.getDefaultInstance(), CreateTaskResponse.parser());
        method("Start", StartRequest.getDefaultInstance(), StartResponse.parser());
        method("State", StateRequest.getDefaultInstance(), StateResponse.parser());
        method("Kill", KillRequest.getDefaultInstance(), Empty.parser());
        method("Wait", WaitRequest.getDefaultInstance(), WaitResponse.parser());
        method("Delete", DeleteRequest.getDefaultInstance(), DeleteResponse.parser());
        method("Connect", ConnectRequest.getDefaultInstance(), ConnectResponse.parser());
        method("Shutdown", ShutdownRequest.getDefaultInstance(), Empty.parser());
        method("CloseIO", CloseIORequest.getDefaultInstance(), Empty.parser());
        method("Exec", ExecProcessRequest.getDefaultInstance(), Empty.parser());
        method("ResizePty", ResizePtyRequest.getDefaultInstance(), Empty.parser());
        method("Pids", PidsRequest.getDefaultInstance(), PidsResponse.parser());
        method("Pause", PauseRequest.getDefaultInstance(), Empty.parser());
        method("Resume", ResumeRequest.getDefaultInstance(), Empty.parser());
        method("Update", UpdateTaskRequest.getDefaultInstance(), Empty.parser());
        method("Stats", StatsRequest.getDefaultInstance(), StatsResponse.parser());
        method("Checkpoint", CheckpointTaskRequest.getDefaultInstance(), Empty.parser());
        try {
            ROOT = Files.createTempDirectory("javakata-fuzz-shim");
        } catch (IOException e) {
            throw new ExceptionInInitializerError(e);
        }
        // A handler that fails with anything but a RuntimeStatusException is logged by Statuses.toStatus; the
        // shim's log (quiet otherwise: fuzzed input makes it log on most calls) is searched for that line.
        ShimLogging.configure(new ShimLogging.Settings("", "", false, new PrintStream(new OutputStream() {
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
        }, true), Clock.systemUTC()));
    }

    private static void method(String name, Message request, Parser<? extends Message> response) {
        METHODS.put(name, new Method(request, response));
    }

    // Path pieces and ids, for ids that lead somewhere they should not.
    @DictionaryEntries({"../", "/", "..", "c1", "c2", "pod1", "app", "e1"})
    @FuzzTest(maxDuration = "5s")
    void everyCallIsAnswered(FuzzedDataProvider data) throws Exception {
        STATS.execution();
        UNEXPECTED.clear();
        Pod pod = new Pod(Files.createTempDirectory(ROOT, "run"));
        try {
            Set<String> created = new HashSet<>();
            int calls = data.consumeInt(1, 8);
            for (int i = 0; i < calls; i++) {
                call(pod, data, created);
            }
        } finally {
            pod.close();
        }
        pod.assertNothingLeft();
        pod.delete();
    }

    @AfterAll
    static void report() throws IOException {
        STATS.report();
        ShimLogging.configure(LOGGING);
        Mounts.deleteTree(ROOT);
    }

    private static void call(Pod pod, FuzzedDataProvider data, Set<String> created) throws Exception {
        List<String> names = new ArrayList<>(METHODS.keySet());
        String name = data.consumeInt(0, 19) < names.size() ? names.get(data.consumeInt(0, names.size() - 1))
                : data.consumeString(20);
        Method method = METHODS.get(name);
        byte[] payload = method == null ? data.consumeBytes(64) : pod.payload(method.request(), data);
        Response response;
        try {
            response = pod.caller.call(SERVICE, name, payload, DEADLINE, BOUND);
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
            if (name.equals("Create")) {
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
        String id = (String) request.getField(request.getDescriptorForType().findFieldByName("id"));
        if (name.equals("Checkpoint")) {
            assertEquals(Code.UNIMPLEMENTED, code, status);
        } else if (!Set.of("Connect", "Shutdown").contains(name) && !validId(id)) {
            // The shim checks every id itself before it names anything (TaskIds): containerd's rule.
            assertEquals(Code.INVALID_ARGUMENT, code, status + ": container id " + id + " breaks the id rule");
            return;
        } else if (!Set.of("Create", "Connect", "Shutdown").contains(name) && !created.contains(id)) {
            assertEquals(Code.NOT_FOUND, code, status + ": container " + id + " was never created");
        }
        if (code != Code.OK) {
            return;
        }
        method.response().parseFrom(response.getPayload());
        if (name.equals("Create")) {
            created.add(id);
        } else if (name.equals("Delete") && ((DeleteRequest) request).getExecId().isEmpty()) {
            created.remove(id);
        }
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
            return (String) request.getField(request.getDescriptorForType().findFieldByName("id"));
        } catch (InvalidProtocolBufferException e) {
            return "";
        }
    }

    /** One input's world: a directory, bundles, an image, the fake VM and agent, the service behind ttrpc. */
    private static final class Pod {

        final Path base;
        final Path state;
        final Path image;
        final Path bundles;
        final Path files;
        final FakeAgent agent = new FakeAgent();
        final List<FakeHypervisor> vms = new CopyOnWriteArrayList<>();
        final TtrpcServer agentServer = new TtrpcServer("fuzz-agent");
        final TtrpcServer taskServer = new TtrpcServer("fuzz-shim");
        final TaskService service;
        final RawCaller caller;
        final List<String> before;

        Pod(Path base) throws IOException {
            this.base = base;
            state = base.resolve("state");
            image = Files.createDirectories(base.resolve("image"));
            Files.writeString(image.resolve("hello.txt"), "hi");
            bundles = Files.createDirectories(base.resolve("bundles"));
            bundle("plain", "");
            bundle("pod1", "\"io.kubernetes.cri.container-type\": \"sandbox\", \"io.kubernetes.cri.sandbox-id\": \"pod1\"");
            bundle("app", "\"io.kubernetes.cri.container-type\": \"container\", \"io.kubernetes.cri.sandbox-id\": \"pod1\"");
            bundle("foreign", "\"io.kubernetes.cri.container-type\": \"container\", \"io.kubernetes.cri.sandbox-id\": \"pod9\"");
            Files.writeString(bundles.resolve("broken").resolve("config.json"), "{\"process\": [");
            files = Files.createDirectories(base.resolve("files"));
            Files.writeString(files.resolve("out"), "");
            before = listing(base, state);

            RuntimeConfig defaults = RuntimeConfig.defaults();
            RuntimeConfig config = new RuntimeConfig(defaults.hypervisor(), defaults.virtiofsd(),
                    new RuntimeConfig.Agent(io.javakata.hypervisor.VmSpec.AgentChannel.SERIAL, Duration.ofSeconds(5)), new RuntimeConfig.Runtime(state, false));
            ShimContext ctx = new ShimContext("fuzzns", "c1", "/run/containerd/containerd.sock", "", base, config,
                    false);
            agent.register(agentServer);
            VmLauncher launcher = new VmLauncher(spec -> {
                FakeHypervisor vm = new FakeHypervisor(spec);
                vms.add(vm);
                return vm;
            }, (endpoint, timeout, giveUp) -> serve(agentServer));
            // c2 runs until signalled, so that Kill, Pause, Exec and Wait meet a running task; the others exit 0.
            agent.programs.put("c2", p -> p.exit(128 + p.signal.join()));
            service = new TaskService(ctx, new RecordingPublisher(), () -> { }, launcher);
            service.register(taskServer);
            caller = new RawCaller(serve(taskServer));
        }

        private void bundle(String name, String annotations) throws IOException {
            Files.writeString(Files.createDirectories(bundles.resolve(name)).resolve("config.json"), """
                    {"ociVersion": "1.0.2", "process": {"args": ["sh"], "cwd": "/"}, "root": {"path": "rootfs"},
                     "annotations": {%s}, "linux": {"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "mount"}]}}
                    """.formatted(annotations));
            Files.createDirectories(bundles.resolve("broken"));
        }

        private static PipeConnection serve(TtrpcServer server) {
            PipeConnection[] pair = PipeConnection.pair();
            Thread.ofVirtual().start(() -> server.serve(pair[1]));
            return pair[0];
        }

        /** A structured request (most of the time) or raw bytes, with host paths kept inside {@link #base}. */
        byte[] payload(Message prototype, FuzzedDataProvider data) {
            if (data.consumeInt(0, 3) == 0) {
                byte[] raw = data.consumeBytes(256);
                if (!(prototype instanceof CreateTaskRequest || prototype instanceof ExecProcessRequest)) {
                    return raw;
                }
                try {
                    // Paths in Create and Exec reach the file system: keep them in this input's directory.
                    Message.Builder builder = prototype.getParserForType().parseFrom(raw).toBuilder();
                    confine(builder, data);
                    return builder.build().toByteArray();
                } catch (InvalidProtocolBufferException e) {
                    return raw;
                }
            }
            Message.Builder builder = prototype.newBuilderForType();
            for (FieldDescriptor field : builder.getDescriptorForType().getFields()) {
                if (field.getName().equals("id") || data.consumeBoolean()) {
                    fill(builder, field, data);
                }
            }
            confine(builder, data);
            return builder.build().toByteArray();
        }

        private void fill(Message.Builder builder, FieldDescriptor field, FuzzedDataProvider data) {
            switch (field.getJavaType()) {
                case STRING -> builder.setField(field, switch (field.getName()) {
                    case "id" -> data.consumeInt(0, 5) < IDS.size() ? IDS.get(data.consumeInt(0, IDS.size() - 1))
                            : data.consumeString(24);
                    case "exec_id" -> data.consumeBoolean() ? "" : data.consumeBoolean() ? "e1" : data.consumeString(12);
                    default -> data.consumeString(24);
                });
                case BOOLEAN -> builder.setField(field, data.consumeBoolean());
                case INT -> builder.setField(field, data.consumeBoolean() ? data.consumeInt(0, 64) : data.consumeInt());
                case LONG -> builder.setField(field, data.consumeLong());
                case MESSAGE -> {
                    if (field.getMessageType().equals(Any.getDescriptor())) {
                        builder.setField(field, any(data));
                    } else if (field.getMessageType().equals(Mount.getDescriptor())) {
                        int mounts = data.consumeInt(0, 2);
                        for (int i = 0; i < mounts; i++) {
                            builder.addRepeatedField(field, mount(data));
                        }
                    }
                }
                default -> { }
            }
        }

        private static Any any(FuzzedDataProvider data) {
            String type = switch (data.consumeInt(0, 2)) {
                case 0 -> Protos.OCI_PROCESS;
                case 1 -> Protos.OCI_LINUX_RESOURCES;
                default -> data.consumeString(40);
            };
            String json = switch (data.consumeInt(0, 3)) {
                case 0 -> "{\"args\":[\"sh\",\"-c\",\"true\"],\"cwd\":\"/\"}";
                case 1 -> "{\"memory\":{\"limit\":33554432},\"cpu\":{\"quota\":50000,\"period\":100000}}";
                case 2 -> data.consumeString(80);
                default -> "";
            };
            return Any.newBuilder().setTypeUrl(type).setValue(ByteString.copyFromUtf8(json)).build();
        }

        /** A rootfs mount of this input's image (or of nothing): never a host device or a host directory. */
        private Mount mount(FuzzedDataProvider data) {
            Mount.Builder mount = Mount.newBuilder()
                    .setType(pick(data, "bind", "tmpfs", "none", letters(data)))
                    .setSource(pick(data, image.toString(), "none", files.resolve("missing").toString(), "tmpfs"));
            int options = data.consumeInt(0, 3);
            for (int i = 0; i < options; i++) {
                mount.addOptions(pick(data, "rbind", "ro", "rw", "nosuid", "nodev", "bind", "size=1m", letters(data)));
            }
            return mount.build();
        }

        /**
         * Keeps what Create and Exec hand the file system inside this input's directory: the bundle, the stdio
         * paths, and a container id that would lead out of it (containerd never sends one; an id that escapes
         * only the sandbox's directory is left as is, and the checks after the input see where it led).
         */
        private void confine(Message.Builder builder, FuzzedDataProvider data) {
            if (builder instanceof CreateTaskRequest.Builder create) {
                create.setBundle(bundles.resolve(pick(data, "plain", "pod1", "app", "foreign", "broken", "missing",
                        letters(data))).toString());
                create.setId(confineId(create.getId()));
                create.setStdin(stdio(data)).setStdout(stdio(data)).setStderr(stdio(data));
                List<Mount> rootfs = new ArrayList<>();
                for (Mount m : create.getRootfsList()) {
                    rootfs.add(mount(data));
                }
                create.clearRootfs().addAllRootfs(rootfs);
                if (rootfs.isEmpty() && data.consumeBoolean()) {
                    create.addRootfs(Mount.newBuilder().setType("bind").setSource(image.toString()).addOptions("rbind"));
                }
            } else if (builder instanceof ExecProcessRequest.Builder exec) {
                exec.setStdin(stdio(data)).setStdout(stdio(data)).setStderr(stdio(data));
            }
        }

        private String confineId(String id) {
            try {
                Path where = state.resolve("sandboxes/key/shared").resolve(id).resolve("rootfs").normalize();
                return where.startsWith(base) ? id : id.replace('/', '_');
            } catch (InvalidPathException e) {
                return id; // resolves nowhere
            }
        }

        private String stdio(FuzzedDataProvider data) {
            return pick(data, "", "", files.resolve("out").toString(), files.resolve("missing").toString());
        }

        private static String pick(FuzzedDataProvider data, String... choices) {
            return choices[data.consumeInt(0, choices.length - 1)];
        }

        private static String letters(FuzzedDataProvider data) {
            return data.consumeString(12).replaceAll("[^A-Za-z0-9]", "");
        }

        void close() throws IOException {
            service.close();
            for (FakeAgent.FakeProcess p : agent.processes.values()) {
                p.signal.complete(9);
                p.exit(137);
            }
            caller.close();
            taskServer.close();
            agentServer.close();
        }

        /**
         * After close: no mount, no sandbox state, every VM stopped, nothing new outside the sandbox's directory.
         * Polled (closing again each time): a Create whose deadline passed was interrupted but may still be
         * finishing (its answer already went out).
         */
        void assertNothingLeft() throws Exception {
            long deadline = System.nanoTime() + BOUND.toNanos();
            while (!clean()) {
                if (System.nanoTime() > deadline) {
                    unmountAll();
                    assertEquals(List.of(), mounts(), "mounts left after the service closed");
                    assertTrue(vms.stream().allMatch(vm -> vm.stopped), "every VM is stopped");
                    List<String> stateLeft = stateLeft();
                    assertTrue(stateLeft.isEmpty() || stateLeft.equals(List.of("sandboxes")),
                            "sandbox state left after the service closed: " + stateLeft);
                    assertEquals(before, listing(base, state), "files changed outside the sandbox's directory");
                    fail("the pod became clean only after " + BOUND);
                }
                Thread.sleep(10);
                service.close();
            }
        }

        private boolean clean() throws IOException {
            List<String> state = stateLeft();
            return mounts().isEmpty() && vms.stream().allMatch(vm -> vm.stopped)
                    && (state.isEmpty() || state.equals(List.of("sandboxes"))) && before.equals(listing(base, this.state));
        }

        private List<String> mounts() throws IOException {
            List<String> mounted = new ArrayList<>();
            for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
                String target = line.split(" ")[4];
                if (target.startsWith(base.toString())) {
                    mounted.add(target);
                }
            }
            return mounted;
        }

        /** Leaves the machine clean even when the check fails. */
        private void unmountAll() throws IOException {
            for (String target : mounts().reversed()) {
                try {
                    Mounts.unmount(target, Mounts.MNT_DETACH);
                } catch (ErrnoException e) {
                    // gone with its parent
                }
            }
        }

        private List<String> stateLeft() throws IOException {
            return Files.isDirectory(state) ? listing(state, null) : List.of();
        }

        void delete() throws IOException {
            Mounts.deleteTree(base);
        }
    }

    /** Every path under {@code dir} (skipping {@code skip}), with the size of each file. */
    private static List<String> listing(Path dir, Path skip) throws IOException {
        try (Stream<Path> paths = Files.walk(dir)) {
            return paths.filter(p -> !p.equals(dir) && (skip == null || !p.startsWith(skip)))
                    .map(p -> dir.relativize(p) + (Files.isRegularFile(p) ? " " + p.toFile().length() : ""))
                    .sorted().toList();
        }
    }

    private static boolean validId(String id) {
        try {
            TaskIds.container(id);
            return true;
        } catch (io.javakata.ttrpc.RuntimeStatusException e) {
            return false;
        }
    }
}
