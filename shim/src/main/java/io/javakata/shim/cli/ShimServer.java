package io.javakata.shim.cli;

import io.javakata.shim.config.RuntimeConfig;
import io.javakata.shim.config.ShimContext;
import io.javakata.shim.events.TtrpcEventPublisher;
import io.javakata.shim.log.ShimLogging;
import io.javakata.shim.sandbox.HostProcesses;
import io.javakata.shim.task.TaskService;
import io.javakata.ttrpc.TtrpcServer;
import io.javakata.ttrpc.UnixServer;

import java.io.Closeable;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The long-lived shim of one pod: the JVM of the pod's first {@code start}, once {@link StartCommand} found no shim
 * running for it. It logs into the bundle's {@code log} FIFO, serves the Task API on its socket, writes the bundle's
 * {@code shim.pid} and {@code address}, prints the address (the launcher hands it to containerd and exits), lets go
 * of the launcher's stdin, stdout and stderr, and runs until the Task service asks it to exit (Shutdown with no task
 * left) or it gets SIGTERM. Then it stops intake first (the server), drains events (at most 5 s), and removes its
 * socket, as containerd's Go shims do (containerd {@code runtime/v2/shim/shim.go}).
 */
final class ShimServer {

    /** Returned by run when a shutdown hook is already exiting the JVM: System.exit would block forever then. */
    static final int IN_SHUTDOWN = -1;
    static final Duration HOOK_WAIT = Duration.ofSeconds(8);
    private static final System.Logger LOG = System.getLogger(ShimServer.class.getName());

    private final Flags flags;
    private final Map<String, String> env;
    private final Path bundle;
    private final StartCommand.Serve serve;
    private final CountDownLatch exitRequested = new CountDownLatch(1);
    private final CountDownLatch stopped = new CountDownLatch(1);
    private volatile boolean inShutdownHook;

    ShimServer(Flags flags, Map<String, String> env, Path bundle, StartCommand.Serve serve) {
        this.flags = flags;
        this.env = env;
        this.bundle = bundle;
        this.serve = serve;
    }

    /**
     * Serves until asked to exit.
     *
     * @param startLog start's own log stream (the FIFO opened read-write), closed once the log goes to fd 2: held by
     *                 the long-lived shim it would keep the FIFO readable and so block the shim's writes on a full
     *                 pipe once containerd stops reading
     * @return the exit status; 1 if the shim did not start, after the one line that says why on stdout
     */
    int run(Closeable startLog) throws IOException {
        Path socket = serve.socket();
        TtrpcEventPublisher publisher = null;
        TtrpcServer server = null;
        UnixServer listener = null;
        TaskService tasks;
        boolean stderrToLog = false;
        try {
            stderrToLog = LogFifo.redirectStderr(bundle);
            ShimLogging.configure(new ShimLogging.Settings(flags.namespace(), flags.id(), flags.debug(), System.err,
                    Clock.systemUTC()));
            startLog.close();
            RuntimeConfig config = serve.config();
            boolean debug = flags.debug() || config.runtime().debug();
            ShimLogging.configure(flags.namespace(), flags.id(), debug);
            var ctx = new ShimContext(flags.namespace(), flags.id(), flags.address(),
                    DeleteCommand.ttrpcAddress(flags, env), bundle, config, debug);
            publisher = new TtrpcEventPublisher(Path.of(ctx.ttrpcAddress()), flags.namespace());
            server = new TtrpcServer("shim " + flags.id());
            tasks = new TaskService(ctx, publisher, exitRequested::countDown);
            int warmShims = config.runtime().warmShims();
            if (warmShims > 0) {
                // With [template] spares, the warm shims make spare VMs of this pod's configuration file.
                Optional<Path> spareConfig = config.template().spares() ? Optional.of(serve.configFile())
                        : Optional.empty();
                tasks.afterPodStart(() -> WarmShim.topUp(warmShims, env, spareConfig));
            }
            tasks.register(server);
            try {
                createSocketDir(socket.getParent());
                listener = UnixServer.listen(socket, server);
            } catch (IOException e) {
                throw new IOException("listen on " + socket + ": " + Main.message(e), e);
            }
            ShimAddresses.writeAddressFile(bundle, serve.address());
        } catch (IOException | RuntimeException e) {
            close(listener, server, publisher, socket);
            // The launcher relays stdout to containerd until it reads an address: this is start's error.
            System.out.println(Main.BINARY + ": shim for task " + flags.id() + " did not start: " + Main.message(e));
            System.out.flush();
            LOG.log(Level.ERROR, "shim did not start: " + Main.message(e), e);
            return 1;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(this::onSigterm, "shim-sigterm"));
        if (AotTraining.requested(env)) {
            // make-aot-cache.sh stops this shim once shim.pid is there: the classes are loaded before.
            try {
                var trained = AotTraining.loadListed(ShimServer.class.getClassLoader());
                LOG.log(Level.INFO, "AOT training: loaded " + trained.loaded() + " listed classes" + (trained
                        .missing().isEmpty() ? "" : "; not found: " + String.join(" ", trained.missing())));
            } catch (IOException e) {
                LOG.log(Level.WARNING, "AOT training: " + e.getMessage() + "; the cache holds what the shim loaded");
            }
        }
        writePidFile();
        LOG.log(Level.INFO, "shim serving task API on " + socket + " (pid " + ProcessHandle.current().pid() + ")");
        System.out.println(serve.address());
        System.out.flush();
        if (System.out.checkError()) {
            // The launcher is gone (containerd gave up on start and killed it): nobody knows this shim's address.
            LOG.log(Level.WARNING, "start's launcher did not take the address: the shim stops");
            exitRequested.countDown();
        }
        LogFifo.detachStdio(!stderrToLog);
        awaitExit();
        close(listener, server, null, socket);
        // Then the VM: after SIGTERM tasks may remain, and nothing else would stop their QEMU and virtiofsd.
        // It reports their exits, so the publisher closes (drains) only after it.
        tasks.close();
        if (!inShutdownHook) {
            // A pod that ended before it counted as started (TaskService#afterPodStart) still gets its warm shims.
            tasks.runPendingAfterPodStart();
        }
        publisher.close();
        LOG.log(Level.INFO, "shim stopped");
        stopped.countDown();
        return inShutdownHook ? IN_SHUTDOWN : 0;
    }

    private void awaitExit() {
        boolean interrupted = false;
        while (true) {
            try {
                exitRequested.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** SIGTERM: let the main thread shut down in order, and hold the JVM until it has. */
    private void onSigterm() {
        if (stopped.getCount() == 0) {
            return;
        }
        inShutdownHook = true;
        LOG.log(Level.INFO, "shim got a termination signal: shutting down");
        exitRequested.countDown();
        try {
            if (!stopped.await(HOOK_WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
                LOG.log(Level.WARNING, "shim did not stop within " + HOOK_WAIT.toSeconds() + " s of SIGTERM");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Reverse order of start: intake first, then events, then the files. */
    private void close(UnixServer listener, TtrpcServer server, TtrpcEventPublisher publisher, Path socket) {
        if (listener != null) {
            listener.close();
        }
        if (server != null) {
            server.close();
        }
        if (publisher != null) {
            publisher.close();
        }
        try {
            Files.deleteIfExists(socket);
            // The address file names the pod's socket; remove it only if no live shim answers there.
            ShimAddresses.removeDeadSocket(bundle, socket.getParent(), StartCommand.ALIVE_TIMEOUT);
        } catch (IOException e) {
            LOG.log(Level.WARNING, "remove shim socket " + socket + ": " + e.getMessage());
        }
    }

    /**
     * {@code shim.pid}, as Kata's shim writes it: containerd ignores it, people and scripts use it. Before it
     * {@code shim.start}, when this process started ({@link HostProcesses#startTime}): the pid and that time name
     * this process and no later one that reuses the pid, which is how the launcher's joining start knows the pod's
     * shim from its command line or not (a warm shim's says {@code warm}).
     */
    private void writePidFile() {
        try {
            long pid = ProcessHandle.current().pid();
            var started = HostProcesses.startTime(pid);
            if (started.isPresent()) {
                ShimAddresses.writeBundleFile(bundle, ShimAddresses.START_FILE, Long.toString(started.getAsLong()));
            }
            ShimAddresses.writeBundleFile(bundle, "shim.pid", Long.toString(pid));
        } catch (IOException e) {
            LOG.log(Level.WARNING, e.getMessage());
        }
    }

    private static void createSocketDir(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString(
                    "rwx--x--x")));
        }
    }
}
