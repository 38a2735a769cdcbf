package io.javakata.shim.cli;

import io.javakata.shim.log.ShimLogging;
import io.javakata.ttrpc.RuntimeStatusException;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.System.Logger.Level;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Arrays;
import java.util.Map;

/**
 * {@code containerd-shim-javakata-v2}: {@code start} (which stays as the pod's shim when the pod has none yet) and
 * {@code delete} for containerd, which always passes its flags first; {@code check} and {@code env} for operators, who
 * name the command first ({@link OperatorArgs}). A failure prints one line to stderr and exits 1 (2 for an operator's
 * usage error); users never see a stack trace (it goes to the log, if anywhere).
 */
public final class Main {

    static final String BINARY = "containerd-shim-javakata-v2";
    private static final System.Logger LOG = System.getLogger(Main.class.getName());

    private Main() {
    }

    public static void main(String[] args) {
        int status;
        try {
            status = run(args, System.getenv());
        } catch (Throwable t) {
            status = fail(t);
        }
        System.out.flush();
        if (status != ShimServer.IN_SHUTDOWN) {
            System.exit(status);
        }
    }

    private static int run(String[] args, Map<String, String> env) throws Exception {
        if (WarmShim.isWarmCommand(args)) {
            return WarmShim.run(args);
        }
        if (OperatorArgs.isOperatorCommand(Arrays.asList(args))) {
            try {
                return new OperatorCommands(env, System.out).run(OperatorArgs.parse(Arrays.asList(args)));
            } catch (Flags.UsageException e) {
                System.err.println(BINARY + ": " + e.getMessage());
                System.err.println(OperatorArgs.USAGE);
                return 2;
            }
        }
        Flags flags;
        try {
            flags = Flags.parse(Arrays.asList(args));
        } catch (Flags.UsageException e) {
            System.err.println(BINARY + ": " + e.getMessage());
            System.err.println("usage: " + BINARY + " -namespace NS -address ADDR -id ID [-debug] [-bundle DIR] "
                    + "start|delete");
            System.err.println(OperatorArgs.USAGE.replaceFirst("^usage: ", "       "));
            return 1;
        }
        Path cwd = Path.of("").toAbsolutePath();
        return switch (flags.action()) {
            case VERSION -> version();
            case START -> start(flags, env, cwd, readStdin(), null);
            case DELETE -> delete(flags, env, cwd);
        };
    }

    /**
     * The address on a line of its own (the launcher prints it to containerd without the newline), and then either
     * the exit or, for a pod's first task, the pod's shim in this process.
     *
     * @param stdin   containerd's runtime options
     * @param adopted how a warm shim came to run this start ({@link WarmShim}), logged once the log is the bundle's;
     *                null for start's own JVM
     */
    static int start(Flags flags, Map<String, String> env, Path bundle, byte[] stdin, String adopted)
            throws IOException {
        // containerd reads stdout and stderr as one string, the address: log lines may only go to the log FIFO.
        var sink = LogFifo.open(bundle).orElseGet(() -> new PrintStream(OutputStream.nullOutputStream()));
        ShimLogging.configure(new ShimLogging.Settings(flags.namespace(), flags.id(), flags.debug(), sink,
                Clock.systemUTC()));
        logIgnored(flags);
        if (adopted != null) {
            LOG.log(Level.INFO, adopted);
        }
        return switch (new StartCommand(flags, env, bundle).run(stdin)) {
            case StartCommand.Join join -> {
                System.out.println(join.address());
                yield 0;
            }
            case StartCommand.Serve serve -> new ShimServer(flags, env, bundle, serve).run(sink);
        };
    }

    private static int delete(Flags flags, Map<String, String> env, Path cwd) throws IOException {
        Path bundle = flags.bundle().orElse(cwd);
        // stdout carries the DeleteResponse bytes; containerd logs stderr as cleanup warnings.
        var sink = LogFifo.open(bundle).orElse(System.err);
        ShimLogging.configure(new ShimLogging.Settings(flags.namespace(), flags.id(), flags.debug(), sink,
                Clock.systemUTC()));
        logIgnored(flags);
        byte[] response = new DeleteCommand(flags, env, bundle).run();
        System.out.write(response);
        System.out.flush();
        return 0;
    }

    static void logIgnored(Flags flags) {
        if (!flags.ignored().isEmpty()) {
            LOG.log(Level.INFO, "ignored unknown flags: " + String.join(" ", flags.ignored()));
        }
    }

    private static byte[] readStdin() throws IOException {
        // A terminal means someone runs start by hand: containerd always gives a pipe (empty without options).
        var console = System.console();
        if (console != null && console.isTerminal()) {
            return new byte[0];
        }
        return System.in.readAllBytes();
    }

    private static int version() {
        String version = Main.class.getPackage().getImplementationVersion();
        System.out.println(BINARY + ":");
        System.out.println("  Version: " + (version == null ? "development build" : version));
        System.out.println("  Runtime: io.containerd.javakata.v2");
        System.out.println("  Java: " + Runtime.version());
        return 0;
    }

    /** One line for the user; the stack trace only into the log, and only when it is not plain bad input. */
    static int fail(Throwable t) {
        String message = message(t);
        if (!(t instanceof RuntimeStatusException) && !(t instanceof IOException)) {
            LOG.log(Level.ERROR, message, t);
        }
        System.err.println(BINARY + ": " + message);
        return 1;
    }

    static String message(Throwable t) {
        if (t instanceof java.nio.file.FileSystemException fs) {
            // Their getMessage is often the bare path ("/run/x"): name what went wrong too.
            String what = switch (fs) {
                case java.nio.file.NoSuchFileException e -> "no such file or directory";
                case java.nio.file.AccessDeniedException e -> "permission denied";
                case java.nio.file.FileAlreadyExistsException e -> "already exists";
                default -> fs.getReason() != null ? fs.getReason() : fs.getClass().getSimpleName();
            };
            return fs.getFile() + ": " + what;
        }
        String m = t.getMessage();
        return m == null || m.isBlank() ? t.getClass().getSimpleName() : m.replace('\n', ' ');
    }
}
