package io.javakata.shim.cli;

import io.javakata.shim.config.ConfigLoader;
import io.javakata.shim.config.RuntimeConfig;
import io.javakata.ttrpc.Errors;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;

/**
 * {@code start} (containerd {@code runtime/v2/binary.go}; {@code docs/runtime-v2.md}, "Shim grouping"): finds the
 * pod's shim socket and decides whether the task joins the live shim there ({@link Join}) or this very process
 * becomes the pod's shim ({@link Serve}, run by {@link ShimServer}). The launcher runs start's JVM in a session of
 * its own, so that it can stay as the shim: there is no second JVM to start and wait for.
 */
final class StartCommand {

    static final Duration ALIVE_TIMEOUT = Duration.ofMillis(100);
    private static final System.Logger LOG = System.getLogger(StartCommand.class.getName());

    private final Flags flags;
    private final Map<String, String> env;
    private final Path bundle;

    /** What start decided. */
    sealed interface Decision {
        String address();
    }

    /** The pod's shim runs at {@code address}; the bundle's address file names it already. */
    record Join(String address) implements Decision {
    }

    /**
     * This process serves the pod on {@code socket} with {@code config}, loaded from {@code configFile} (absolute; a
     * default file that does not exist when the defaults are used), whose spare VMs its warm shims make.
     */
    record Serve(String address, Path socket, RuntimeConfig config, Path configFile) implements Decision {
    }

    StartCommand(Flags flags, Map<String, String> env, Path bundle) {
        this.flags = flags;
        this.env = env;
        this.bundle = bundle;
    }

    Decision run(byte[] stdin) throws IOException {
        Optional<String> optionsConfig = RuntimeOptions.configPath(stdin);
        ConfigLoader.Selection selection = ConfigLoader.select(optionsConfig, env);
        RuntimeConfig config = selection.load();
        ShimAddresses.writeConfigRecord(bundle, optionsConfig);
        Map<String, String> annotations = ShimAddresses.readAnnotations(bundle.resolve("config.json"));
        String group = ShimAddresses.groupingId(annotations, flags.id());
        Path socket = ShimAddresses.socketPath(config.runtime().stateDir(), flags.address(), flags.namespace(), group);
        String address = "unix://" + socket;

        if (ShimAddresses.canConnect(socket, ALIVE_TIMEOUT)) {
            LOG.log(Level.INFO, "task " + flags.id() + " joins the running shim of " + group + " at " + socket);
            ShimAddresses.writeAddressFile(bundle, address);
            return new Join(address);
        }
        if (ShimAddresses.joinsPod(annotations)) {
            throw Errors.failedPrecondition("container %s: the shim of its sandbox %s is not running at %s",
                    flags.id(), group, socket);
        }
        Files.deleteIfExists(socket); // a dead shim's socket: nothing accepted on it above
        return new Serve(address, socket, config, selection.file().toAbsolutePath());
    }
}
