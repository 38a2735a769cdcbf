package io.javakata.shim.cli;

import io.javakata.shim.config.ConfigLoader;
import io.javakata.shim.config.RuntimeConfig;
import io.javakata.shim.sandbox.BootTimeline;
import io.javakata.shim.sandbox.SpareVms;
import io.javakata.sys.ErrnoException;
import io.javakata.sys.Fds;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.lang.System.Logger.Level;
import java.math.BigDecimal;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A warm shim ({@code [runtime] warm_shims}; docs/architecture.md, "Warm shims"): a shim JVM started ahead of pods,
 * which a pod's first {@code start} takes over, so that the pod does not wait for a JVM to start. The launcher
 * ({@code containerd-shim-javakata-v2 warm N}) makes its directory under the warm root, named by its pid, with the
 * FIFOs {@code request} and {@code reply} and the file {@code id} (the launcher's and the jar's identity), and runs
 * {@code warm N DIR}. This JVM then holds one of N slot locks in the warm root (or exits: N are waiting already),
 * rehearses a pod's start ({@link #rehearse}), renames {@code id} to {@code ready} and waits on {@code request}. A `start` that claimed it (the rename of
 * {@code ready} to {@code claimed}) writes there what containerd gave it ({@link Request}). If the configuration that
 * start loads has no warm shims, this JVM answers {@value #DECLINE_LINE} (start's own JVM runs it) and waits on: a
 * pod of another runtime handler does not use up this one's warm shims. Otherwise it gives up its slot, removes its
 * directory, makes {@code reply} its stdout and stderr and runs that start as start's own JVM would
 * ({@link Main#start}): the launcher relays the address to containerd, and this process is the pod's shim from then
 * on. A start that fails ends its answer with {@value #EXIT_LINE}STATUS, since the launcher, which holds the FIFO open
 * itself, sees no end of it.
 *
 * <p>A pod's shim tops the warm shims up ({@link #topUp}) once its pod has started (TaskService#afterPodStart).
 */
final class WarmShim {

    static final String COMMAND = "warm";
    /** The first field of a request: the format. */
    static final String REQUEST_FORMAT = "javakata-warm-request-1";
    /** The answer to a start whose configuration has no warm shims: start's own JVM runs it. */
    static final String DECLINE_LINE = "javakata-warm-decline";
    /** The line that ends a failed start's answer, followed by its status. */
    static final String EXIT_LINE = "javakata-warm-exit ";
    /** The largest request read: containerd's arguments, runtime options and environment are a few KiB. */
    static final int MAX_REQUEST_BYTES = 1 << 20;
    /** Moves the warm root, for tests; the launcher reads the same variable. */
    static final String ROOT_ENV = "JAVAKATA_WARM_DIR";
    static final Path DEFAULT_ROOT = Path.of("/run/javakata-warm");
    /**
     * The configuration file whose spare VM a warm shim makes ({@code [template] spares}), set by the pod's shim that
     * starts it ({@link #topUp}).
     */
    static final String SPARE_CONFIG_ENV = "JAVAKATA_SPARE_CONFIG";
    /** The launcher's path, which it exports to the JVMs it runs: a pod's shim runs it to start warm shims. */
    static final String LAUNCHER_ENV = "JAVAKATA_LAUNCHER";
    private static final System.Logger LOG = System.getLogger(WarmShim.class.getName());

    private WarmShim() {
    }

    /** What containerd gave the `start` that claimed a warm shim. */
    record Request(Instant launched, Path bundle, byte[] stdin, List<String> args, Map<String, String> env) {

        /**
         * Parses the launcher's request: NUL-terminated fields, {@value #REQUEST_FORMAT}, the launcher's start (seconds
         * since the epoch, as bash's EPOCHREALTIME), the bundle (an absolute path), containerd's stdin in hex, the
         * number of arguments and each argument, then NAME=VALUE entries of the launcher's environment to the end.
         *
         * @throws IllegalArgumentException naming what is wrong
         */
        static Request parse(byte[] bytes) {
            if (bytes.length > MAX_REQUEST_BYTES) {
                throw new IllegalArgumentException("request longer than " + MAX_REQUEST_BYTES + " bytes");
            }
            List<String> fields = new ArrayList<>();
            int from = 0;
            for (int i = 0; i < bytes.length; i++) {
                if (bytes[i] == 0) {
                    fields.add(new String(bytes, from, i - from, StandardCharsets.UTF_8));
                    from = i + 1;
                }
            }
            if (from != bytes.length) {
                throw new IllegalArgumentException("request does not end with a NUL (cut short?)");
            }
            if (fields.size() < 5 || !fields.get(0).equals(REQUEST_FORMAT)) {
                throw new IllegalArgumentException("request is not " + REQUEST_FORMAT);
            }
            Instant launched;
            try {
                BigDecimal seconds = new BigDecimal(fields.get(1).replace(',', '.'));
                launched = Instant.ofEpochSecond(0, seconds.movePointRight(9).longValueExact());
            } catch (ArithmeticException | NumberFormatException e) {
                throw new IllegalArgumentException("request's launch time is not seconds: " + fields.get(1));
            }
            Path bundle = Path.of(fields.get(2));
            if (!bundle.isAbsolute()) {
                throw new IllegalArgumentException("request's bundle is not an absolute path: " + fields.get(2));
            }
            byte[] stdin;
            try {
                stdin = HexFormat.of().parseHex(fields.get(3));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("request's stdin is not hex");
            }
            int argc;
            try {
                argc = Integer.parseInt(fields.get(4));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("request's argument count is not a number: " + fields.get(4));
            }
            if (argc < 0 || argc > fields.size() - 5) {
                throw new IllegalArgumentException("request has fewer arguments than its count, " + argc);
            }
            List<String> args = List.copyOf(fields.subList(5, 5 + argc));
            Map<String, String> env = new LinkedHashMap<>();
            for (String entry : fields.subList(5 + argc, fields.size())) {
                int eq = entry.indexOf('=');
                if (eq <= 0) {
                    throw new IllegalArgumentException("request's environment entry is not NAME=VALUE: " + entry);
                }
                env.put(entry.substring(0, eq), entry.substring(eq + 1));
            }
            return new Request(launched, bundle, stdin, args, Map.copyOf(env));
        }
    }

    /** {@code warm N DIR}, as the launcher runs it. */
    static boolean isWarmCommand(String[] args) {
        return args.length == 3 && args[0].equals(COMMAND);
    }

    /** Waits to be claimed, then runs the claiming start; the exit status of this JVM. */
    static int run(String[] args) throws IOException {
        int slots;
        try {
            slots = Integer.parseInt(args[1]);
        } catch (NumberFormatException e) {
            slots = 0;
        }
        Path dir = Path.of(args[2]).toAbsolutePath();
        if (slots < 1 || slots > RuntimeConfig.Runtime.MAX_WARM_SHIMS || !Files.isDirectory(dir)) {
            System.err.println(Main.BINARY + ": usage: warm N DIR (N from 1 to "
                    + RuntimeConfig.Runtime.MAX_WARM_SHIMS + ", DIR made by the launcher)");
            return 2;
        }
        String pid = Long.toString(ProcessHandle.current().pid());
        if (!dir.getFileName().toString().equals(pid)) {
            // setsid forked after all: the directory must name the process that waits in it (the launcher's check).
            dir = Files.move(dir, dir.resolveSibling(pid), StandardCopyOption.ATOMIC_MOVE);
        }
        FileLock slot = takeSlot(dir.getParent(), slots);
        if (slot == null) {
            removeTree(dir);
            return 0;
        }
        rehearse();
        prepareSpare(System.getenv(SPARE_CONFIG_ENV));
        String id = Files.readString(dir.resolve("id"));
        Files.move(dir.resolve("id"), dir.resolve("ready"), StandardCopyOption.ATOMIC_MOVE);
        while (true) {
            byte[] bytes;
            try (InputStream in = Files.newInputStream(dir.resolve("request"))) {
                bytes = in.readNBytes(MAX_REQUEST_BYTES + 1);
            }
            int reply;
            try {
                // Not waiting for a reader: a launcher that is gone has no one to answer.
                reply = Fds.open(dir.resolve("reply"), Fds.O_WRONLY | Fds.O_NONBLOCK | Fds.O_CLOEXEC, 0);
            } catch (ErrnoException e) {
                readyAgain(dir, id);
                continue;
            }
            Request request = null;
            String refusal = null;
            try {
                request = Request.parse(bytes);
                if (!wantsWarmShims(request)) {
                    // A pod of a configuration without warm shims does not use up those of another: start's own JVM
                    // runs it, and this one waits on.
                    byte[] decline = (DECLINE_LINE + "\n").getBytes(StandardCharsets.UTF_8);
                    try {
                        Fds.writeAll(reply, decline, 0, decline.length);
                    } catch (ErrnoException e) {
                        LOG.log(Level.WARNING, "warm shim: decline: " + e.getMessage());
                    } finally {
                        Fds.close(reply);
                    }
                    readyAgain(dir, id);
                    continue;
                }
            } catch (IllegalArgumentException e) {
                refusal = e.getMessage();
            }
            slot.channel().close();
            removeTree(dir);
            Fds.dup2(reply, 1);
            Fds.dup2(reply, 2);
            Fds.close(reply);
            int status = refusal != null
                    ? answerFailure(Main.fail(new IllegalArgumentException("warm shim: " + refusal)))
                    : takeOver(request);
            // The start's shim has ended (or never began): a spare VM its pod did not take goes with it.
            SpareVms.discard();
            return status;
        }
    }

    /** How long the rehearsal may take before the warm shim counts as ready without it. */
    static final Duration REHEARSAL_TIMEOUT = Duration.ofSeconds(30);

    /**
     * Runs one pod's start in this JVM before it counts as warm: a sandbox's `start` on a bundle of its own in a
     * temporary directory (its own configuration and state dir), served until a Shutdown over its socket. What a real start
     * then runs (the configuration, the bundle's spec, the socket, the task service and its ttrpc server, the
     * protobuf messages) is then loaded and initialised: without it a warm shim's start took 0.37 s against 0.51 s
     * for start's own JVM (docs/benchmarks.md, "Warm shims"). A rehearsal that fails is logged and the warm shim
     * waits all the same.
     */
    static void rehearse() {
        Path work = null;
        try {
            // Short: the shim's socket is <state_dir>/s/<64 hex>, and a UNIX socket's path has at most 107 bytes.
            work = Files.createTempDirectory("jkw");
            Path bundle = Files.createDirectories(work.resolve("bundle"));
            Path config = Files.writeString(work.resolve("configuration.toml"),
                    "[runtime]\nstate_dir = \"" + work.resolve("state") + "\"\n");
            Files.writeString(bundle.resolve("config.json"), "{\"ociVersion\":\"1.0.2\",\"annotations\":{"
                    + "\"io.kubernetes.cri.container-type\":\"sandbox\",\"io.kubernetes.cri.sandbox-id\":\"rehearsal\"}}");
            String containerd = work.resolve("containerd.sock").toString();
            Flags flags = Flags.parse(List.of("-namespace", "javakata-warm", "-address", containerd, "-id",
                    "rehearsal", "start"));
            Map<String, String> env = Map.of(ConfigLoader.ENV_VAR, config.toString(), "TTRPC_ADDRESS",
                    containerd + ".ttrpc");
            Thread shim = Thread.ofPlatform().name("warm-rehearsal").start(() -> {
                try {
                    Main.start(flags, env, bundle, new byte[0], null);
                } catch (IOException | RuntimeException e) {
                    LOG.log(Level.WARNING, "warm shim: rehearsal: " + Main.message(e));
                }
            });
            long deadline = System.nanoTime() + REHEARSAL_TIMEOUT.toNanos();
            Path address = bundle.resolve("address");
            while (!Files.exists(address) && shim.isAlive()) {
                if (System.nanoTime() - deadline > 0) {
                    throw new IOException("no address within " + REHEARSAL_TIMEOUT);
                }
                Thread.sleep(5);
            }
            if (Files.exists(address)) {
                Path socket = Path.of(Files.readString(address).strip().substring("unix://".length()));
                try (var client = new io.javakata.ttrpc.TtrpcClient(
                        io.javakata.ttrpc.transport.UnixConnection.connect(socket))) {
                    client.call(io.javakata.shim.task.TaskService.SERVICE, "Connect",
                            io.containerd.task.v2.ConnectRequest.newBuilder().setId("rehearsal").build(),
                            io.containerd.task.v2.ConnectResponse.parser(), REHEARSAL_TIMEOUT);
                    client.call(io.javakata.shim.task.TaskService.SERVICE, "Shutdown",
                            io.containerd.task.v2.ShutdownRequest.newBuilder().setId("rehearsal").build(),
                            com.google.protobuf.Empty.parser(), REHEARSAL_TIMEOUT);
                }
            }
            shim.join(REHEARSAL_TIMEOUT);
            if (shim.isAlive()) {
                throw new IOException("its shim did not stop within " + REHEARSAL_TIMEOUT);
            }
        } catch (IOException | RuntimeException | Flags.UsageException e) {
            LOG.log(Level.WARNING, "warm shim: rehearsal: " + Main.message(e));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            if (work != null) {
                removeTree(work);
            }
        }
    }

    /**
     * Makes this warm shim's spare VM ({@link SpareVms}) for the configuration file {@code configFile} (null: none
     * asked) once its own start is rehearsed. A configuration that cannot be read is logged: the warm shim waits
     * without a spare.
     */
    static void prepareSpare(String configFile) {
        if (configFile == null || configFile.isBlank()) {
            return;
        }
        try {
            SpareVms.prepare(ConfigLoader.load(Path.of(configFile)));
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "warm shim: no spare VM: " + Main.message(e));
        }
    }

    /**
     * Whether the configuration the request's start would load asks for warm shims. One that cannot be read counts as
     * asking: the start then fails with the error start's own JVM would give.
     */
    static boolean wantsWarmShims(Request request) {
        try {
            return ConfigLoader.select(RuntimeOptions.configPath(request.stdin()), request.env()).load().runtime()
                    .warmShims() > 0;
        } catch (RuntimeException e) {
            return true;
        }
    }

    /** Waits for the next claim: {@code ready} again, with the launcher's identity {@code id}. */
    private static void readyAgain(Path dir, String id) throws IOException {
        Files.writeString(dir.resolve("ready.new"), id);
        Files.deleteIfExists(dir.resolve("claimed"));
        Files.move(dir.resolve("ready.new"), dir.resolve("ready"), StandardCopyOption.ATOMIC_MOVE);
    }

    /** Runs the request's start in this process, as start's own JVM would. */
    private static int takeOver(Request request) {
        Flags flags;
        try {
            flags = Flags.parse(request.args());
            if (flags.action() != Flags.Action.START) {
                throw new IllegalArgumentException("a warm shim runs only `start`, not " + flags.action());
            }
        } catch (IllegalArgumentException | Flags.UsageException e) {
            return answerFailure(Main.fail(new IllegalArgumentException("warm shim: " + e.getMessage())));
        }
        BootTimeline.countFrom(request.launched());
        String adopted = "warm shim " + ProcessHandle.current().pid() + " takes over start of " + flags.id()
                + ", started " + ProcessHandle.current().info().startInstant()
                .map(t -> Duration.between(t, request.launched()).toMillis() + " ms").orElse("?") + " before it";
        int status;
        try {
            status = Main.start(flags, request.env(), request.bundle(), request.stdin(), adopted);
        } catch (Throwable t) {
            status = Main.fail(t);
        }
        return status == 0 || status == ShimServer.IN_SHUTDOWN ? status : answerFailure(status);
    }

    private static int answerFailure(int status) {
        System.out.println(EXIT_LINE + status);
        System.out.flush();
        return status;
    }

    /** One of {@code slots} locks in the warm root, held for as long as this JVM waits; null if all are held. */
    private static FileLock takeSlot(Path root, int slots) throws IOException {
        for (int i = 0; i < slots; i++) {
            FileChannel channel = FileChannel.open(root.resolve("slot-" + i), StandardOpenOption.CREATE,
                    StandardOpenOption.WRITE);
            FileLock lock = channel.tryLock();
            if (lock != null) {
                return lock;
            }
            channel.close();
        }
        return null;
    }

    private static void removeTree(Path dir) {
        try {
            io.javakata.sys.Mounts.deleteTree(dir);
        } catch (IOException e) {
            LOG.log(Level.WARNING, "warm shim: remove " + dir + ": " + e.getMessage());
        }
    }

    /** The warm root: {@value #ROOT_ENV} or {@link #DEFAULT_ROOT}. */
    static Path root(Map<String, String> env) {
        String dir = env.get(ROOT_ENV);
        return dir == null || dir.isBlank() ? DEFAULT_ROOT : Path.of(dir);
    }

    /**
     * Starts warm shims until {@code wanted} live ones are (waiting or starting) in the warm root: the launcher
     * {@value #LAUNCHER_ENV} names, as {@code warm N}, each with /dev/null for its stdio and / as its directory. Warm
     * shims that several pods start at once are bounded by the N slot locks (the extra ones exit); a failure is only
     * logged: pods start without warm shims too.
     */
    static void topUp(int wanted, Map<String, String> env, java.util.Optional<Path> spareConfig) {
        String launcher = env.get(LAUNCHER_ENV);
        if (launcher == null || !Path.of(launcher).isAbsolute()) {
            LOG.log(Level.WARNING, "warm shims: no launcher path in " + LAUNCHER_ENV + ": none started");
            return;
        }
        Path root = root(env);
        long live = 0;
        try (Stream<Path> dirs = Files.isDirectory(root) ? Files.list(root) : Stream.empty()) {
            live = dirs.map(d -> d.getFileName().toString()).filter(n -> n.matches("[1-9][0-9]{0,9}"))
                    .filter(n -> ProcessHandle.of(Long.parseLong(n)).map(ProcessHandle::isAlive).orElse(false))
                    .count();
        } catch (IOException e) {
            LOG.log(Level.WARNING, "warm shims: list " + root + ": " + e.getMessage());
        }
        for (long i = live; i < wanted; i++) {
            try {
                ProcessBuilder builder = new ProcessBuilder(launcher, COMMAND, Integer.toString(wanted))
                        .directory(new File("/"))
                        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                        .redirectError(ProcessBuilder.Redirect.DISCARD);
                builder.environment().remove(SPARE_CONFIG_ENV);
                spareConfig.ifPresent(file -> builder.environment().put(SPARE_CONFIG_ENV, file.toString()));
                builder.start();
            } catch (IOException e) {
                LOG.log(Level.WARNING, "warm shims: start " + launcher + " " + COMMAND + ": " + e.getMessage());
                return;
            }
        }
        if (live < wanted) {
            LOG.log(Level.INFO, "warm shims: " + live + " in " + root + ", started " + (wanted - live) + " more");
        }
    }
}
