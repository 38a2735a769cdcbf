package io.javakata.shim.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.toml.TomlMapper;
import io.javakata.hypervisor.VmSpec;
import io.javakata.ttrpc.Errors;
import io.javakata.ttrpc.RuntimeStatusException;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Reads {@code configuration.toml} into a {@link RuntimeConfig}. Every key is optional (missing keys keep
 * {@link RuntimeConfig#defaults()}), but the file is strict, as Firecracker's configs are: an unknown table or key, a
 * value of the wrong type or out of range fails with a message naming the key, the value, the rule and the file.
 * The VM's ranges are {@link VmSpec}'s own constants, so whatever this accepts, a pod's VM accepts too.
 * Stateless and thread-safe.
 */
public final class ConfigLoader {

    /** Names the configuration file when containerd's runtime options do not ({@code ConfigPath}). */
    public static final String ENV_VAR = "JAVAKATA_CONFIG";

    private static final System.Logger LOG = System.getLogger(ConfigLoader.class.getName());

    static final Map<String, Set<String>> KNOWN = Map.of(
            "hypervisor", Set.of("type", "path", "kernel", "initrd", "agent_image", "machine", "accel", "vcpus",
                    "memory_mib", "kernel_params", "boot_timeout_seconds", "run_as", "console_log_max_kib",
                    "guest_lockdown"),
            "virtiofsd", Set.of("path", "cache"),
            "agent", Set.of("transport", "request_timeout_seconds", "debug_console", "vhost_device_vsock"),
            "runtime", Set.of("state_dir", "debug", "warm_shims"),
            "template", Set.of("enabled", "max_count", "spares"));
    private static final String ORDER = "hypervisor, virtiofsd, agent, runtime, template";
    /** The longest boot_timeout_seconds and request_timeout_seconds: an hour. */
    static final int MAX_TIMEOUT_SECONDS = 3600;

    private ConfigLoader() {
    }

    /** Which file to read: the runtime options' config path, else {@code $JAVAKATA_CONFIG}, else the default. */
    public static Selection select(Optional<String> optionsConfigPath, Map<String, String> env) {
        return select(optionsConfigPath, env, RuntimeConfig.DEFAULT_PATH);
    }

    static Selection select(Optional<String> optionsConfigPath, Map<String, String> env, Path defaultPath) {
        if (optionsConfigPath.isPresent() && !optionsConfigPath.get().isBlank()) {
            return new Selection(Path.of(optionsConfigPath.get()), true);
        }
        String fromEnv = env.get(ENV_VAR);
        if (fromEnv != null && !fromEnv.isBlank()) {
            return new Selection(Path.of(fromEnv), true);
        }
        return new Selection(defaultPath, false);
    }

    /**
     * A chosen configuration file.
     *
     * @param file     the path
     * @param explicit whether someone named it (then a missing file is an error; a missing default file is not)
     */
    public record Selection(Path file, boolean explicit) {
        public RuntimeConfig load() {
            if (!explicit && !Files.exists(file)) {
                LOG.log(Level.INFO, "no configuration file " + file + ": using the defaults");
                return RuntimeConfig.defaults();
            }
            return ConfigLoader.load(file);
        }
    }

    /**
     * Reads and validates one file.
     *
     * @throws RuntimeStatusException INVALID_ARGUMENT naming the file and, for a bad entry, the key, value and rule;
     *                                NOT_FOUND if the file does not exist
     */
    public static RuntimeConfig load(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            throw Errors.notFound("configuration file %s does not exist", file);
        } catch (IOException e) {
            throw Errors.invalidArgument("read configuration file %s: %s", file, e.getMessage());
        }
        JsonNode root;
        try {
            root = new TomlMapper().readTree(text);
        } catch (IOException e) {
            throw Errors.invalidArgument("parse configuration file %s: %s", file, firstLine(e.getMessage()));
        }
        return fromTree(root == null ? new TomlMapper().createObjectNode() : root, file);
    }

    private static RuntimeConfig fromTree(JsonNode root, Path file) {
        root.properties().forEach(e -> {
            Set<String> keys = KNOWN.get(e.getKey());
            if (keys == null) {
                throw Errors.invalidArgument("unknown table [%s] in %s; known tables: %s", e.getKey(), file, ORDER);
            }
            if (!e.getValue().isObject()) {
                throw Errors.invalidArgument("%s in %s must be a table [%s], not a value", e.getKey(), file, e.getKey());
            }
            e.getValue().properties().forEach(kv -> {
                if (!keys.contains(kv.getKey())) {
                    throw Errors.invalidArgument("unknown key %s.%s in %s; known keys: %s", e.getKey(), kv.getKey(),
                            file, String.join(", ", keys.stream().sorted().toList()));
                }
            });
        });
        var d = RuntimeConfig.defaults();
        var h = Table.of(root, "hypervisor", file);
        var v = Table.of(root, "virtiofsd", file);
        var a = Table.of(root, "agent", file);
        var r = Table.of(root, "runtime", file);
        var t = Table.of(root, "template", file);
        var hv = d.hypervisor();
        var type = h.oneOf("type", hv.type());
        var hypervisor = new RuntimeConfig.Hypervisor(
                type,
                h.absolutePath("path", type == RuntimeConfig.HypervisorType.CLOUD_HYPERVISOR
                        ? RuntimeConfig.Hypervisor.DEFAULT_CLOUD_HYPERVISOR_PATH : hv.path()),
                h.absolutePath("kernel", hv.kernel()),
                h.absolutePath("initrd", hv.initrd()),
                h.absolutePath("agent_image", hv.agentImage()),
                h.oneOf("machine", hv.machine()),
                h.oneOf("accel", hv.accel()),
                h.integer("vcpus", hv.vcpus(), VmSpec.MIN_VCPUS, VmSpec.MAX_VCPUS),
                h.integer("memory_mib", hv.memoryMiB(), VmSpec.MIN_MEMORY_MIB, VmSpec.MAX_MEMORY_MIB),
                h.string("kernel_params", hv.kernelParams()),
                h.seconds("boot_timeout_seconds", hv.bootTimeout()),
                h.matching("run_as", hv.runAs(), VmSpec.RUN_AS_PATTERN,
                        "must be \"\" (root) or a user name: lower-case letters, digits, _ or -, at most 32"),
                h.integer("console_log_max_kib", hv.consoleLogMaxKiB(), (int) (VmSpec.MIN_CONSOLE_LOG_BYTES / 1024),
                        (int) (VmSpec.MAX_CONSOLE_LOG_BYTES / 1024)),
                h.oneOf("guest_lockdown", hv.lockdown()));
        checkKernelParams(hypervisor, file);
        var virtiofsd = new RuntimeConfig.Virtiofsd(
                v.absolutePath("path", d.virtiofsd().path()),
                v.oneOf("cache", d.virtiofsd().cache()));
        var agent = new RuntimeConfig.Agent(
                a.oneOf("transport", d.agent().transport()),
                a.seconds("request_timeout_seconds", d.agent().requestTimeout()),
                a.bool("debug_console", d.agent().debugConsole()),
                a.absolutePath("vhost_device_vsock", d.agent().vhostDeviceVsock()));
        var runtime = new RuntimeConfig.Runtime(
                r.absolutePath("state_dir", d.runtime().stateDir()),
                r.bool("debug", d.runtime().debug()),
                r.integer("warm_shims", d.runtime().warmShims(), 0, RuntimeConfig.Runtime.MAX_WARM_SHIMS));
        var template = new RuntimeConfig.Template(t.bool("enabled", d.template().enabled()),
                t.integer("max_count", d.template().maxCount(), RuntimeConfig.Template.MIN_COUNT,
                        RuntimeConfig.Template.MAX_COUNT),
                t.bool("spares", d.template().spares()));
        checkCloudHypervisor(hypervisor, agent, file);
        return new RuntimeConfig(hypervisor, virtiofsd, agent, runtime, template);
    }

    /**
     * kernel_params must not set the lockdown level: the kernel only ever raises it, so a {@code lockdown=} there would
     * silently fight guest_lockdown.
     */
    private static void checkKernelParams(RuntimeConfig.Hypervisor hypervisor, Path file) {
        for (String param : hypervisor.kernelParams().strip().split("\\s+")) {
            if (param.startsWith("lockdown=")) {
                throw Errors.invalidArgument("hypervisor.kernel_params in %s has %s: set hypervisor.guest_lockdown "
                        + "(none, integrity or confidentiality) instead", file, param);
            }
        }
    }

    /**
     * What Cloud Hypervisor cannot do, refused when the file is read rather than at each pod's start: it has no
     * TCG (KVM only), and no virtio-serial port for the debug console.
     */
    private static void checkCloudHypervisor(RuntimeConfig.Hypervisor hypervisor, RuntimeConfig.Agent agent, Path file) {
        if (hypervisor.type() != RuntimeConfig.HypervisorType.CLOUD_HYPERVISOR) {
            return;
        }
        if (hypervisor.accel() == io.javakata.hypervisor.Accelerator.TCG) {
            throw Errors.invalidArgument("hypervisor.accel = \"tcg\" in %s: Cloud Hypervisor (hypervisor.type = "
                    + "\"cloud-hypervisor\") has no TCG, it runs only on KVM; use \"auto\" or \"kvm\"", file);
        }
        if (agent.debugConsole()) {
            throw Errors.invalidArgument("agent.debug_console = true in %s: the debug console is a virtio-serial port, "
                    + "which Cloud Hypervisor (hypervisor.type = \"cloud-hypervisor\") does not have", file);
        }
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "malformed TOML";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    /** Typed, validated reads from one table; each error names "table.key", the value, the rule and the file. */
    private record Table(JsonNode node, String name, Path file) {
        static Table of(JsonNode root, String name, Path file) {
            return new Table(root.get(name), name, file);
        }

        private Optional<JsonNode> value(String key) {
            return node == null ? Optional.empty() : Optional.ofNullable(node.get(key));
        }

        private RuntimeStatusException bad(String key, JsonNode value, String rule) {
            return Errors.invalidArgument("%s.%s = %s in %s: %s", name, key, value, file, rule);
        }

        String string(String key, String dflt) {
            var value = value(key);
            if (value.isEmpty()) {
                return dflt;
            }
            if (!value.get().isTextual()) {
                throw bad(key, value.get(), "must be a string");
            }
            return value.get().textValue();
        }

        /** One of {@code dflt}'s enum constants, by its {@link RuntimeConfig#tomlName}. */
        <E extends Enum<E>> E oneOf(String key, E dflt) {
            String s = string(key, RuntimeConfig.tomlName(dflt));
            E[] allowed = dflt.getDeclaringClass().getEnumConstants();
            for (E a : allowed) {
                if (RuntimeConfig.tomlName(a).equals(s)) {
                    return a;
                }
            }
            throw bad(key, value(key).orElseThrow(), "must be one of "
                    + Stream.of(allowed).map(RuntimeConfig::tomlName).collect(Collectors.joining(", ")));
        }

        String matching(String key, String dflt, String regex, String rule) {
            String s = string(key, dflt);
            if (!s.matches(regex)) {
                throw bad(key, value(key).orElseThrow(), rule);
            }
            return s;
        }

        Path absolutePath(String key, Path dflt) {
            String s = string(key, dflt.toString());
            if (!s.startsWith("/")) {
                throw bad(key, value(key).orElseThrow(), "must be an absolute path");
            }
            try {
                return Path.of(s);
            } catch (InvalidPathException e) {
                throw bad(key, value(key).orElseThrow(), "must be a path: " + e.getReason());
            }
        }

        Duration seconds(String key, Duration dflt) {
            return Duration.ofSeconds(integer(key, (int) dflt.toSeconds(), 1, MAX_TIMEOUT_SECONDS));
        }

        int integer(String key, int dflt, int min, int max) {
            var value = value(key);
            if (value.isEmpty()) {
                return dflt;
            }
            JsonNode v = value.get();
            if (!v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() < min || v.longValue() > max) {
                throw bad(key, v, "must be an integer from " + min + " to " + max);
            }
            return v.intValue();
        }

        boolean bool(String key, boolean dflt) {
            var value = value(key);
            if (value.isEmpty()) {
                return dflt;
            }
            if (!value.get().isBoolean()) {
                throw bad(key, value.get(), "must be true or false");
            }
            return value.get().booleanValue();
        }
    }
}
