package io.javakata.shim.cli;

import io.javakata.shim.config.ConfigLoader;
import io.javakata.shim.config.RuntimeConfig;
import io.javakata.ttrpc.Errors;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * {@code start} (containerd {@code runtime/v2/binary.go}; {@code docs/runtime-v2.md}, "Shim grouping"): finds the
 * pod's shim socket, and either reuses the live shim there or spawns a new one and waits for it to say
 * {@code ready}. containerd merges stdout and stderr and takes the result as the address, so on success this prints
 * the address and nothing else; the daemon gets neither stream.
 */
final class StartCommand {

    static final Duration READY_TIMEOUT = Duration.ofSeconds(10);
    static final Duration ALIVE_TIMEOUT = Duration.ofMillis(100);
    static final String READY = "ready";
    private static final System.Logger LOG = System.getLogger(StartCommand.class.getName());

    private final Flags flags;
    private final Map<String, String> env;
    private final Path bundle;

    StartCommand(Flags flags, Map<String, String> env, Path bundle) {
        this.flags = flags;
        this.env = env;
        this.bundle = bundle;
    }

    /** Runs start; returns the address to print. */
    String run(byte[] stdin) throws IOException {
        Optional<String> optionsConfig = RuntimeOptions.configPath(stdin);
        ConfigLoader.Selection selection = ConfigLoader.select(optionsConfig, env);
        RuntimeConfig config = selection.load();
        Map<String, String> annotations = ShimAddresses.readAnnotations(bundle.resolve("config.json"));
        String group = ShimAddresses.groupingId(annotations, flags.id());
        Path socket = ShimAddresses.socketPath(config.runtime().stateDir(), flags.address(), flags.namespace(), group);
        String address = "unix://" + socket;

        if (ShimAddresses.canConnect(socket, ALIVE_TIMEOUT)) {
            LOG.log(Level.INFO, "task " + flags.id() + " joins the running shim of " + group + " at " + socket);
            ShimAddresses.writeAddressFile(bundle, address);
            return address;
        }
        if (ShimAddresses.joinsPod(annotations)) {
            throw Errors.failedPrecondition("container %s: the shim of its sandbox %s is not running at %s",
                    flags.id(), group, socket);
        }
        Files.deleteIfExists(socket); // a dead shim's socket: nothing accepted on it above
        spawn(socket, selection.explicit() ? Optional.of(selection.file()) : Optional.empty());
        ShimAddresses.writeAddressFile(bundle, address);
        return address;
    }

    private void spawn(Path socket, Optional<Path> config) throws IOException {
        var self = ProcessHandle.current().info();
        List<String> cmd = DaemonCommand.build(self.command().orElse(Path.of(System.getProperty("java.home"), "bin",
                        "java").toString()), self.arguments().map(List::of).orElse(List.of()), codeSource(),
                System.getProperty("java.class.path"), DaemonCommand.serveArgs(flags, bundle, socket, config));
        var pb = new ProcessBuilder(cmd).directory(bundle.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectError(ProcessBuilder.Redirect.DISCARD)
                .redirectOutput(ProcessBuilder.Redirect.PIPE);
        Process daemon;
        try {
            daemon = pb.start();
        } catch (IOException e) {
            throw Errors.unavailable("spawn shim daemon %s: %s", cmd.get(1), e.getMessage());
        }
        String line = awaitFirstLine(daemon);
        if (READY.equals(line)) {
            LOG.log(Level.INFO, "started shim daemon pid " + daemon.pid() + " on " + socket);
            return;
        }
        daemon.destroyForcibly();
        try {
            daemon.waitFor(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Files.deleteIfExists(socket);
        if (line == null) {
            throw Errors.unavailable("shim daemon for task %s did not get ready within %d s", flags.id(),
                    READY_TIMEOUT.toSeconds());
        }
        throw Errors.unavailable("shim daemon for task %s failed: %s", flags.id(),
                line.isEmpty() ? "exited with status " + daemon.exitValue() : line);
    }

    /** The daemon's first stdout line; "" if it exited without one; null on timeout. */
    private static String awaitFirstLine(Process daemon) {
        var reader = new BufferedReader(new InputStreamReader(daemon.getInputStream(), StandardCharsets.UTF_8));
        var first = CompletableFuture.supplyAsync(() -> {
            try {
                String l = reader.readLine();
                return l == null ? "" : l.strip();
            } catch (IOException e) {
                return "";
            }
        }, r -> Thread.ofVirtual().name("daemon-stdout").start(r));
        try {
            return first.get(READY_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            return null;
        } catch (ExecutionException e) {
            return "";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    private static Path codeSource() {
        try {
            return Path.of(StartCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (java.net.URISyntaxException | NullPointerException e) {
            throw new IllegalStateException("cannot locate the shim jar: " + e.getMessage(), e);
        }
    }
}
