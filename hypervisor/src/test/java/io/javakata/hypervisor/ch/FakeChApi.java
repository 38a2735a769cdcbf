package io.javakata.hypervisor.ch;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;

/**
 * Cloud Hypervisor's REST API for tests, on a real Unix socket, holding clients to the contract of its API spec
 * ({@code vmm/src/api/openapi/cloud-hypervisor.yaml}) and of the VMM's state machine ({@code vmm/src/lib.rs}),
 * and of its HTTP layer ({@code vmm/src/api/http/mod.rs}, all in cloud-hypervisor/cloud-hypervisor):
 * <ul>
 *   <li>endpoints and methods: {@code GET vmm.ping}, {@code PUT vmm.shutdown}, {@code PUT vm.create} (a JSON
 *       {@code VmConfig} body, required), {@code PUT vm.boot}, {@code PUT vm.shutdown}, {@code PUT vm.delete},
 *       {@code GET vm.info}; an unknown endpoint is 404, a wrong method 400;</li>
 *   <li>{@code VmConfig}: field names and types of the spec's schemas for every object the driver may send, their
 *       required fields ({@code payload}; {@code cpus.boot_vcpus}, {@code cpus.max_vcpus}; {@code memory.size};
 *       {@code fs[].tag, socket, num_queues, queue_size}; {@code vsock.cid} of at least 3 and {@code socket};
 *       {@code serial.mode}, {@code console.mode} from the spec's enum), 400 with a message otherwise. An unknown
 *       field is refused too, which Cloud Hypervisor itself does not do (its serde structs ignore them): a
 *       misspelt field would silently be dropped there;</li>
 *   <li>states: no VM, created, running. {@code vm.create} when a VM exists is 500 ("VM is already created");
 *       {@code vm.boot} without one is 404, of a running one 500; {@code vm.shutdown} without a VM 404, of one that
 *       is not running 405 (the spec's codes); {@code vm.delete} always 204 (shutting a running VM down first);
 *       {@code vmm.shutdown} deletes the VM, answers 204 and then runs {@link #onVmmShutdown};</li>
 *   <li>error bodies as v53 writes them: a JSON array of the error chain.</li>
 * </ul>
 * Tests can make one action misbehave ({@link Fault}). Every request is recorded in order.
 */
final class FakeChApi implements AutoCloseable {

    /** How one action misbehaves instead of answering. */
    sealed interface Fault {
        /** Answers this status with this JSON error chain. */
        record Refuse(int status, String... chain) implements Fault {
        }

        /** Writes the start of an answer, then closes the connection. */
        record DieMidAnswer() implements Fault {
        }

        /** Never answers (until the client goes away). */
        record Silent() implements Fault {
        }
    }

    /** One recorded request. */
    record Request(String method, String action, JsonNode body) {
    }

    enum VmState { NONE, CREATED, RUNNING }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String STRING = "string";
    private static final String INT = "integer";
    private static final String BOOL = "boolean";
    private static final String ANY = "any";

    /** The spec's schemas the driver may send: field → type, or → another schema's name ("[]" for an array of it). */
    private static final Map<String, Map<String, String>> SCHEMAS = Map.ofEntries(
            Map.entry("VmConfig", Map.ofEntries(Map.entry("cpus", "CpusConfig"), Map.entry("memory", "MemoryConfig"),
                    Map.entry("payload", "PayloadConfig"), Map.entry("rate_limit_groups", ANY),
                    Map.entry("disks", ANY), Map.entry("net", "NetConfig[]"), Map.entry("rng", "RngConfig"),
                    Map.entry("balloon", ANY), Map.entry("fs", "FsConfig[]"), Map.entry("generic_vhost_user", ANY),
                    Map.entry("pmem", "PmemConfig[]"), Map.entry("serial", "SerialConfig"),
                    Map.entry("console", "ConsoleConfig"),
                    Map.entry("debug_console", ANY), Map.entry("devices", ANY), Map.entry("user_devices", ANY),
                    Map.entry("vdpa", ANY), Map.entry("vsock", "VsockConfig"), Map.entry("numa", ANY),
                    Map.entry("iommu", BOOL), Map.entry("watchdog", BOOL), Map.entry("rtc", ANY),
                    Map.entry("pvpanic", BOOL), Map.entry("pci_segments", ANY), Map.entry("platform", ANY),
                    Map.entry("tpm", ANY), Map.entry("landlock_enable", BOOL), Map.entry("landlock_rules", ANY))),
            Map.entry("CpusConfig", Map.of("boot_vcpus", INT, "max_vcpus", INT, "topology", ANY, "kvm_hyperv", BOOL,
                    "max_phys_bits", INT, "nested", BOOL, "affinity", ANY, "features", ANY, "core_scheduling", STRING)),
            Map.entry("MemoryConfig", Map.ofEntries(Map.entry("size", INT), Map.entry("hotplug_size", INT),
                    Map.entry("hotplugged_size", INT), Map.entry("mergeable", BOOL), Map.entry("hotplug_method", STRING),
                    Map.entry("shared", BOOL), Map.entry("hugepages", BOOL), Map.entry("hugepage_size", INT),
                    Map.entry("prefault", BOOL), Map.entry("reserve", BOOL), Map.entry("thp", BOOL),
                    Map.entry("zones", ANY))),
            Map.entry("PayloadConfig", Map.of("firmware", STRING, "kernel", STRING, "cmdline", STRING, "initramfs", STRING,
                    "igvm", STRING, "host_data", STRING)),
            Map.entry("NetConfig", Map.ofEntries(Map.entry("tap", STRING), Map.entry("ip", STRING), Map.entry("mask", STRING),
                    Map.entry("mac", STRING), Map.entry("host_mac", STRING), Map.entry("mtu", INT),
                    Map.entry("iommu", BOOL), Map.entry("num_queues", INT), Map.entry("queue_size", INT),
                    Map.entry("vhost_user", BOOL), Map.entry("vhost_socket", STRING), Map.entry("vhost_mode", STRING),
                    Map.entry("id", STRING), Map.entry("pci_segment", INT), Map.entry("pci_device_id", INT),
                    Map.entry("rate_limiter_config", ANY), Map.entry("offload_tso", BOOL),
                    Map.entry("offload_ufo", BOOL), Map.entry("offload_csum", BOOL))),
            Map.entry("RngConfig", Map.of("src", STRING, "iommu", BOOL)),
            Map.entry("FsConfig", Map.of("tag", STRING, "socket", STRING, "num_queues", INT, "queue_size", INT,
                    "pci_segment", INT, "pci_device_id", INT, "id", STRING)),
            Map.entry("SerialConfig", Map.of("file", STRING, "socket", STRING, "mode", STRING)),
            Map.entry("ConsoleConfig", Map.of("file", STRING, "socket", STRING, "mode", STRING, "iommu", BOOL, "id", STRING,
                    "pci_segment", INT, "pci_device_id", INT)),
            Map.entry("VsockConfig", Map.of("cid", INT, "socket", STRING, "iommu", BOOL, "pci_segment", INT,
                    "pci_device_id", INT, "id", STRING)),
            Map.entry("PmemConfig", Map.of("file", STRING, "size", INT, "iommu", BOOL, "discard_writes", BOOL,
                    "pci_segment", INT, "id", STRING)));
    private static final Map<String, List<String>> REQUIRED = Map.of(
            "VmConfig", List.of("payload"),
            "CpusConfig", List.of("boot_vcpus", "max_vcpus"),
            "MemoryConfig", List.of("size"),
            "FsConfig", List.of("num_queues", "queue_size", "socket", "tag"),
            "RngConfig", List.of("src"),
            "SerialConfig", List.of("mode"),
            "ConsoleConfig", List.of("mode"),
            "VsockConfig", List.of("cid", "socket"),
            "PmemConfig", List.of("file"));
    private static final List<String> CONSOLE_MODES = List.of("Off", "Pty", "Tty", "File", "Socket", "Null");

    private final ServerSocketChannel server;
    private final Path socket;
    private final Thread acceptor;
    private final List<SocketChannel> clients = new CopyOnWriteArrayList<>();
    final List<Request> requests = new CopyOnWriteArrayList<>();
    final Map<String, Fault> faults = new ConcurrentHashMap<>();
    private final CountDownLatch closed = new CountDownLatch(1);
    volatile String version = "49.0.0";
    /** Runs after {@code vmm.shutdown} was answered: the VMM exits then. */
    volatile Runnable onVmmShutdown = () -> { };
    private VmState state = VmState.NONE;
    /** The serial console's listening socket, bound at vm.create as Cloud Hypervisor does in Socket mode. */
    private ServerSocketChannel serial;

    FakeChApi(Path socket) throws IOException {
        this.socket = socket;
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        acceptor = Thread.ofVirtual().name("fake-ch-api").start(this::acceptLoop);
    }

    synchronized VmState state() {
        return state;
    }

    /** The actions requested so far, in order. */
    List<String> actions() {
        return requests.stream().map(Request::action).toList();
    }

    /** The body of the first request for {@code action}. */
    JsonNode body(String action) {
        return requests.stream().filter(r -> r.action().equals(action)).findFirst().orElseThrow().body();
    }

    private void acceptLoop() {
        while (server.isOpen()) {
            try {
                SocketChannel client = server.accept();
                clients.add(client);
                Thread.ofVirtual().name("fake-ch-api-conn").start(() -> serve(client));
            } catch (IOException e) {
                return;
            }
        }
    }

    /** Serves requests on one connection until the client closes it (keep-alive, as micro_http does). */
    private void serve(SocketChannel client) {
        try (client) {
            ByteArrayOutputStream pending = new ByteArrayOutputStream();
            while (true) {
                HttpRequest request = HttpRequest.read(client, pending);
                if (request == null) {
                    return;
                }
                if (!handle(client, request)) {
                    return;
                }
            }
        } catch (IOException e) {
            // the client went away
        } finally {
            clients.remove(client);
        }
    }

    /** @return false when the connection must end */
    private boolean handle(SocketChannel client, HttpRequest request) throws IOException {
        String action = request.target().startsWith("/api/v1/") ? request.target().substring("/api/v1/".length()) : "";
        JsonNode body = null;
        if (request.body().length > 0) {
            try {
                body = JSON.readTree(request.body());
            } catch (IOException e) {
                respond(client, 400, "Failed to deserialize JSON", String.valueOf(e.getMessage()));
                return true;
            }
        }
        requests.add(new Request(request.method(), action, body));
        Fault fault = faults.get(action);
        switch (fault) {
            case Fault.Refuse refuse -> {
                respond(client, refuse.status(), refuse.chain());
                return true;
            }
            case Fault.DieMidAnswer _ -> {
                write(client, "HTTP/1.1 200 \r\nContent-Length: 100\r\n\r\n{\"vers");
                return false;
            }
            case Fault.Silent _ -> {
                awaitClose();
                return false;
            }
            case null -> {
            }
        }
        Answer answer = answer(request.method(), action, body);
        if (answer.json() != null) {
            byte[] bytes = JSON.writeValueAsBytes(answer.json());
            write(client, "HTTP/1.1 200 \r\nServer: Cloud Hypervisor API\r\nContent-Type: application/json\r\n"
                    + "Content-Length: " + bytes.length + "\r\n\r\n" + new String(bytes, StandardCharsets.UTF_8));
        } else if (answer.status() == 204) {
            write(client, "HTTP/1.1 204 \r\nServer: Cloud Hypervisor API\r\n\r\n");
        } else {
            respond(client, answer.status(), answer.chain());
        }
        if (action.equals("vmm.shutdown") && answer.status() == 204) {
            onVmmShutdown.run();
            return false;
        }
        return true;
    }

    private record Answer(int status, JsonNode json, String... chain) {
        static Answer noContent() {
            return new Answer(204, null);
        }

        static Answer error(int status, String... chain) {
            return new Answer(status, null, chain);
        }
    }

    private synchronized Answer answer(String method, String action, JsonNode body) {
        String wanted = switch (action) {
            case "vmm.ping", "vm.info" -> "GET";
            case "vmm.shutdown", "vm.create", "vm.boot", "vm.shutdown", "vm.delete" -> "PUT";
            default -> null;
        };
        if (wanted == null) {
            return Answer.error(404, "Not Found");
        }
        if (!wanted.equals(method)) {
            return Answer.error(400, "Bad Request");
        }
        return switch (action) {
            case "vmm.ping" -> new Answer(200, JSON.createObjectNode().put("build_version", "v" + version + "-fake")
                    .put("version", version).put("pid", ProcessHandle.current().pid()));
            case "vm.info" -> state == VmState.NONE ? Answer.error(404, "Error from API", "VM is not created")
                    : new Answer(200, JSON.createObjectNode().put("state",
                            state == VmState.RUNNING ? "Running" : "Created"));
            case "vm.create" -> create(body);
            case "vm.boot" -> switch (state) {
                case NONE -> Answer.error(404, "Error from API", "The VM could not boot", "VM is not created");
                case RUNNING -> Answer.error(500, "Error from API", "The VM could not boot", "VM is already created");
                case CREATED -> {
                    state = VmState.RUNNING;
                    yield Answer.noContent();
                }
            };
            case "vm.shutdown" -> switch (state) {
                case NONE -> Answer.error(404, "Error from API", "The VM could not shut down", "VM is not created");
                case CREATED -> Answer.error(405, "Error from API", "The VM could not shut down", "VM is not running");
                case RUNNING -> {
                    state = VmState.CREATED;
                    yield Answer.noContent();
                }
            };
            case "vm.delete", "vmm.shutdown" -> {
                state = VmState.NONE;
                closeSerial();
                yield Answer.noContent();
            }
            default -> throw new IllegalStateException(action);
        };
    }

    private Answer create(JsonNode body) {
        if (body == null) {
            return Answer.error(400, "Bad Request");
        }
        if (state != VmState.NONE) {
            return Answer.error(500, "Error from API", "The VM could not be created", "VM is already created");
        }
        List<String> problems = new ArrayList<>();
        validate("VmConfig", "", body, problems);
        if (!problems.isEmpty()) {
            return Answer.error(400, "Failed to deserialize JSON", String.join("; ", problems));
        }
        if (body.path("serial").path("mode").asText("").equals("Socket")) {
            try {
                serial = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
                serial.bind(UnixDomainSocketAddress.of(body.path("serial").path("socket").asText()));
            } catch (IOException e) {
                return Answer.error(500, "Error from API", "The VM could not be created",
                        "Error creating console devices", e.toString());
            }
        }
        state = VmState.CREATED;
        return Answer.noContent();
    }

    /** What the VMM's exit does to the serial console: its socket closes, and a reader sees the end. */
    synchronized void vmmExited() {
        closeSerial();
    }

    private void closeSerial() {
        if (serial != null) {
            try {
                Path path = ((UnixDomainSocketAddress) serial.getLocalAddress()).getPath();
                serial.close();
                Files.deleteIfExists(path);
            } catch (IOException e) {
                // a test fixture: nothing more to do
            }
            serial = null;
        }
    }

    /** Checks {@code node} against schema {@code name}, adding one sentence per problem. */
    static void validate(String name, String where, JsonNode node, List<String> problems) {
        if (!node.isObject()) {
            problems.add(where + ": expected an object (" + name + ")");
            return;
        }
        Map<String, String> fields = SCHEMAS.get(name);
        for (String required : REQUIRED.getOrDefault(name, List.of())) {
            if (!node.has(required)) {
                problems.add("missing field `" + required + "` in " + name + (where.isEmpty() ? "" : " at " + where));
            }
        }
        node.properties().forEach(field -> {
            String path = where.isEmpty() ? field.getKey() : where + "." + field.getKey();
            String type = fields.get(field.getKey());
            if (type == null) {
                problems.add("unknown field `" + field.getKey() + "` in " + name + " at " + path);
                return;
            }
            checkType(type, path, field.getValue(), problems);
        });
        if (name.equals("VsockConfig") && node.path("cid").asLong(0) < 3) {
            problems.add("vsock.cid must be at least 3, not " + node.path("cid"));
        }
        if (name.equals("SerialConfig") || name.equals("ConsoleConfig")) {
            String mode = node.path("mode").asText("");
            if (!CONSOLE_MODES.contains(mode)) {
                problems.add(where + ".mode: unknown variant `" + mode + "`, expected one of " + CONSOLE_MODES);
            } else if (name.equals("ConsoleConfig") && mode.equals("Socket")) {
                problems.add(where + ".mode: the virtio console has no Socket mode");
            } else if ((mode.equals("File") && !node.has("file")) || (mode.equals("Socket") && !node.has("socket"))) {
                problems.add(where + ": mode " + mode + " needs `" + mode.toLowerCase(Locale.ROOT) + "`");
            }
        }
    }

    private static void checkType(String type, String path, JsonNode value, List<String> problems) {
        boolean ok = switch (type) {
            case ANY -> true;
            case STRING -> value.isTextual();
            case INT -> value.isIntegralNumber() && value.asLong() >= 0;
            case BOOL -> value.isBoolean();
            default -> {
                if (type.endsWith("[]")) {
                    if (!value.isArray()) {
                        yield false;
                    }
                    for (int i = 0; i < value.size(); i++) {
                        validate(type.substring(0, type.length() - 2), path + "[" + i + "]", value.get(i), problems);
                    }
                } else {
                    validate(type, path, value, problems);
                }
                yield true;
            }
        };
        if (!ok) {
            problems.add("invalid type at " + path + ": expected " + type + ", got " + value);
        }
    }

    private static void respond(SocketChannel client, int status, String... chain) throws IOException {
        byte[] body = JSON.writeValueAsBytes(List.of(chain));
        write(client, "HTTP/1.1 " + status + " \r\nServer: Cloud Hypervisor API\r\nContent-Length: " + body.length
                + "\r\n\r\n" + new String(body, StandardCharsets.UTF_8));
    }

    private static void write(SocketChannel client, String text) throws IOException {
        ByteBuffer buffer = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
        while (buffer.hasRemaining()) {
            client.write(buffer);
        }
    }

    private void awaitClose() {
        try {
            closed.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() throws IOException {
        closed.countDown();
        server.close();
        synchronized (this) {
            closeSerial();
        }
        for (SocketChannel client : clients) {
            client.close();
        }
        Files.deleteIfExists(socket);
    }

    /** A request as micro_http parses it: request line, headers, and a body of exactly Content-Length bytes. */
    private record HttpRequest(String method, String target, byte[] body) {

        /** @return null when the client closed the connection between requests */
        static HttpRequest read(SocketChannel client, ByteArrayOutputStream pending) throws IOException {
            ByteBuffer buffer = ByteBuffer.allocate(4096);
            while (true) {
                byte[] have = pending.toByteArray();
                String text = new String(have, StandardCharsets.ISO_8859_1);
                int end = text.indexOf("\r\n\r\n");
                if (end >= 0) {
                    String[] lines = text.substring(0, end).split("\r\n");
                    String[] requestLine = lines[0].split(" ");
                    if (requestLine.length != 3 || !requestLine[2].equals("HTTP/1.1")) {
                        throw new IOException("bad request line " + lines[0]);
                    }
                    int length = 0;
                    for (String line : lines) {
                        if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
                            length = Integer.parseInt(line.substring("content-length:".length()).strip());
                        }
                    }
                    int bodyStart = end + 4;
                    if (have.length - bodyStart >= length) {
                        byte[] body = new byte[length];
                        System.arraycopy(have, bodyStart, body, 0, length);
                        pending.reset();
                        pending.write(have, bodyStart + length, have.length - bodyStart - length);
                        return new HttpRequest(requestLine[0], requestLine[1], body);
                    }
                }
                buffer.clear();
                int n = client.read(buffer);
                if (n < 0) {
                    if (have.length == 0) {
                        return null;
                    }
                    throw new IOException("client closed mid-request");
                }
                pending.write(buffer.array(), 0, n);
            }
        }
    }
}
