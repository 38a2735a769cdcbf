package io.javakata.shim.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.javakata.ttrpc.Errors;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;

/**
 * Where a task's shim listens, and the bundle files that record it (containerd docs/runtime-v2.md, "Shim grouping";
 * runtime/v2/shim/util.go). One shim serves a whole pod: a CRI container's task is grouped under its sandbox id, so
 * both hash to the same socket. Stateless and thread-safe.
 */
public final class ShimAddresses {

    static final String CONTAINER_TYPE = "io.kubernetes.cri.container-type";
    static final String SANDBOX_ID = "io.kubernetes.cri.sandbox-id";
    /** sun_path holds 108 bytes; Go's shim library refuses more than 106 (socketPathLimit). */
    static final int SOCKET_PATH_LIMIT = 106;
    static final String ADDRESS_FILE = "address";
    static final String CONFIG_RECORD = "javakata-config";
    /**
     * The bundle file with the start time of the pod's shim (ShimServer; HostProcesses#startTime), beside its
     * {@code shim.pid}.
     */
    static final String START_FILE = "shim.start";

    private ShimAddresses() {
    }

    /** The pod a task belongs to: its sandbox id for a CRI container, else the task id itself. */
    public static String groupingId(Map<String, String> annotations, String taskId) {
        if ("container".equals(annotations.get(CONTAINER_TYPE))) {
            String sandbox = annotations.get(SANDBOX_ID);
            if (sandbox == null || sandbox.isEmpty()) {
                throw Errors.invalidArgument("annotation %s is missing in task %s: a CRI container needs its sandbox id",
                        SANDBOX_ID, taskId);
            }
            return sandbox;
        }
        return taskId;
    }

    /** True when the task is a CRI container that must join an existing pod shim. */
    public static boolean joinsPod(Map<String, String> annotations) {
        return "container".equals(annotations.get(CONTAINER_TYPE));
    }

    /** {@code <stateDir>/s/<sha256 hex of "<containerdAddress>/<namespace>/<groupingId>">}, the Go shims' rule. */
    public static Path socketPath(Path stateDir, String containerdAddress, String namespace, String groupingId) {
        String key = containerdAddress + "/" + namespace + "/" + groupingId;
        Path socket = stateDir.resolve("s").resolve(sha256Hex(key));
        int length = socket.toString().getBytes(StandardCharsets.UTF_8).length;
        if (length > SOCKET_PATH_LIMIT) {
            throw Errors.invalidArgument("shim socket path %s is %d bytes: must be at most %d (shorten runtime.state_dir)",
                    socket, length, SOCKET_PATH_LIMIT);
        }
        return socket;
    }

    static String sha256Hex(String s) {
        try {
            var digest = MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 missing from the JDK", e);
        }
    }

    /**
     * The annotations of an OCI {@code config.json}, read leniently (everything else in the spec is ignored). A spec
     * without annotations gives an empty map.
     */
    public static Map<String, String> readAnnotations(Path configJson) throws IOException {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(configJson.toFile());
        } catch (IOException e) {
            throw new IOException("read " + configJson + ": " + e.getMessage(), e);
        }
        Map<String, String> annotations = new HashMap<>();
        JsonNode node = root == null ? null : root.get("annotations");
        if (node != null && node.isObject()) {
            node.properties().forEach(e -> {
                if (e.getValue().isTextual()) {
                    annotations.put(e.getKey(), e.getValue().textValue());
                }
            });
        }
        return annotations;
    }

    /** Writes {@code <bundle>/address} atomically (".address", then rename), without a trailing newline. */
    public static void writeAddressFile(Path bundle, String address) throws IOException {
        writeBundleFile(bundle, ADDRESS_FILE, address);
    }

    /**
     * Records in {@code <bundle>/javakata-config} the configuration file containerd's runtime options named at
     * {@code start} ({@code ConfigPath}), or removes a record when they named none. containerd runs {@code delete}
     * without the options ({@code runtime/v2/binary.go}, {@code Delete}: {@code Opts: nil}), so delete reads the file
     * from here, as containerd's runc shim keeps its options in the bundle's {@code options.json} for its cleanup
     * ({@code runtime/v2/runc/container.go}, {@code WriteOptions} and {@code ReadOptions}).
     */
    public static void writeConfigRecord(Path bundle, Optional<String> configPath) throws IOException {
        if (configPath.isPresent()) {
            writeBundleFile(bundle, CONFIG_RECORD, configPath.get());
        } else {
            Files.deleteIfExists(bundle.resolve(CONFIG_RECORD));
        }
    }

    /** The configuration file {@link #writeConfigRecord} recorded, if any. */
    public static Optional<String> readConfigRecord(Path bundle) throws IOException {
        try {
            String path = Files.readString(bundle.resolve(CONFIG_RECORD), StandardCharsets.UTF_8).strip();
            return path.isEmpty() ? Optional.empty() : Optional.of(path);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
    }

    /** Writes {@code <bundle>/<name>} atomically (".name", then rename), without a trailing newline. */
    static void writeBundleFile(Path bundle, String name, String content) throws IOException {
        Path tmp = bundle.resolve("." + name);
        try {
            Files.writeString(tmp, content, StandardCharsets.UTF_8);
            Files.move(tmp, bundle.resolve(name), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            Files.deleteIfExists(tmp);
            throw new IOException("write " + bundle.resolve(name) + ": " + e.getMessage(), e);
        }
    }

    /** The socket named by {@code <bundle>/address}, if the file exists and holds a {@code unix://} address. */
    public static Optional<Path> readAddressFile(Path bundle) throws IOException {
        try {
            String address = Files.readString(bundle.resolve(ADDRESS_FILE), StandardCharsets.UTF_8).strip();
            return address.startsWith("unix://") ? Optional.of(Path.of(address.substring(7)))
                    : Optional.empty();
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
    }

    /**
     * Removes the socket {@code <bundle>/address} names when it is a socket directly in {@code shimsDir} and nothing
     * answers on it (its shim exited or was killed); anything else the file names is left alone. Returns what it
     * removed.
     */
    public static Optional<Path> removeDeadSocket(Path bundle, Path shimsDir, Duration probe)
            throws IOException {
        Optional<Path> socket = readAddressFile(bundle);
        if (socket.isEmpty() || !shimsDir.normalize().equals(socket.get().normalize().getParent())
                || !Files.exists(socket.get())
                || !Files.readAttributes(socket.get(), java.nio.file.attribute.BasicFileAttributes.class).isOther()
                || canConnect(socket.get(), probe)) {
            return Optional.empty();
        }
        Files.deleteIfExists(socket.get());
        return socket;
    }

    /**
     * Whether something accepts connections on a socket within the timeout (Go's CanConnect uses 100 ms). A refused or
     * missing socket answers false at once.
     */
    public static boolean canConnect(Path socket, Duration timeout) {
        try (var channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            channel.configureBlocking(false);
            if (channel.connect(UnixDomainSocketAddress.of(socket))) {
                return true;
            }
            try (var selector = Selector.open()) {
                channel.register(selector, SelectionKey.OP_CONNECT);
                return selector.select(Math.max(1, timeout.toMillis())) > 0 && channel.finishConnect();
            }
        } catch (IOException e) {
            return false;
        }
    }
}
