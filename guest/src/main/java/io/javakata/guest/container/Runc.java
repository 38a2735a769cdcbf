package io.javakata.guest.container;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import io.javakata.guest.reaper.BoundedCommand;
import io.javakata.guest.reaper.Reaper;
import io.javakata.guest.stdio.ContainerStdio;

/**
 * Drives the runc binary. Every command logs to a JSON file ({@code --log}), whose error lines become
 * the exception message when the command fails: that is where runc says why a container could not be
 * created ("exec: \"nosuch\": executable file not found in $PATH").
 *
 * <p>Thread-safe; each call blocks until runc exits, at most {@link #TIMEOUT_SECONDS}: then runc and what it
 * started ({@code runc init}, a hook) are killed and the call fails.
 */
public final class Runc {

    static final long TIMEOUT_SECONDS = 60;
    private static final System.Logger LOG = System.getLogger(Runc.class.getName());

    private final Path binary;
    private final Path root;
    private final Reaper reaper;
    private final Duration timeout;

    /**
     * @param binary the runc executable
     * @param root   runc's state directory ({@code --root})
     * @param reaper starts runc so the guest reaper leaves runc's exit to the JDK
     */
    public Runc(Path binary, Path root, Reaper reaper) {
        this(binary, root, reaper, Duration.ofSeconds(TIMEOUT_SECONDS));
    }

    /** As above, with each command killed after {@code timeout} instead of {@link #TIMEOUT_SECONDS} (tests). */
    Runc(Path binary, Path root, Reaper reaper, Duration timeout) {
        this.binary = binary;
        this.root = root;
        this.reaper = reaper;
        this.timeout = timeout;
    }

    /**
     * {@code runc create}; the container's init gets {@code stdio}; returns nothing, the pid is in pidFile.
     *
     * @param consoleSocket where runc sends the pty master of a terminal init, or null
     */
    public void create(String id, Path bundle, Path pidFile, ContainerStdio stdio, Path consoleSocket)
            throws IOException {
        Path log = bundle.resolve("runc-create.log");
        List<String> args = new ArrayList<>(List.of("create", "--bundle", bundle.toString(), "--pid-file",
                pidFile.toString()));
        if (consoleSocket != null) {
            args.addAll(List.of("--console-socket", consoleSocket.toString()));
        }
        args.add(id);
        ProcessBuilder builder = builder(log, args.toArray(String[]::new))
                .redirectInput(stdio.stdinRedirect())
                .redirectOutput(stdio.stdoutRedirect())
                .redirectError(stdio.stderrRedirect());
        run("create", id, builder, log);
    }

    /**
     * {@code runc exec --detach}: runs the OCI process in {@code processJson} in container {@code id};
     * returns once it runs, its pid in {@code pidFile}. Its stdio is {@code stdio}, or the pty runc
     * sends to {@code consoleSocket} (null for none).
     */
    public void exec(String id, Path bundle, Path processJson, Path pidFile, ContainerStdio stdio,
                     Path consoleSocket) throws IOException {
        Path log = processJson.resolveSibling("runc-exec.log");
        List<String> args = new ArrayList<>(List.of("exec", "--detach", "--pid-file", pidFile.toString(),
                "--process", processJson.toString()));
        if (consoleSocket != null) {
            args.addAll(List.of("--console-socket", consoleSocket.toString()));
        }
        args.add(id);
        ProcessBuilder builder = builder(log, args.toArray(String[]::new))
                .redirectInput(stdio.stdinRedirect())
                .redirectOutput(stdio.stdoutRedirect())
                .redirectError(stdio.stderrRedirect());
        run("exec", id, builder, log);
    }

    /** {@code runc pause} (cgroup freezer). */
    public void pause(String id, Path bundle) throws IOException {
        Path log = bundle.resolve("runc-pause.log");
        run("pause", id, quiet(builder(log, "pause", id), bundle), log);
    }

    /** {@code runc resume}. */
    public void resume(String id, Path bundle) throws IOException {
        Path log = bundle.resolve("runc-resume.log");
        run("resume", id, quiet(builder(log, "resume", id), bundle), log);
    }

    /** {@code runc update --resources <file>}: the file holds OCI LinuxResources JSON. */
    public void update(String id, Path bundle, Path resources) throws IOException {
        Path log = bundle.resolve("runc-update.log");
        run("update", id, quiet(builder(log, "update", "--resources", resources.toString(), id), bundle), log);
    }

    public void start(String id, Path bundle) throws IOException {
        Path log = bundle.resolve("runc-start.log");
        run("start", id, quiet(builder(log, "start", id), bundle), log);
    }

    public void kill(String id, Path bundle, int signal, boolean all) throws IOException {
        Path log = bundle.resolve("runc-kill.log");
        List<String> args = new ArrayList<>(List.of("kill"));
        if (all) {
            args.add("--all");
        }
        args.add(id);
        args.add(Integer.toString(signal));
        run("kill", id, quiet(builder(log, args.toArray(String[]::new)), bundle), log);
    }

    public void delete(String id, Path bundle) throws IOException {
        Path log = bundle.resolve("runc-delete.log");
        run("delete", id, quiet(builder(log, "delete", "--force", id), bundle), log);
    }

    private ProcessBuilder builder(Path log, String... args) {
        List<String> command = new ArrayList<>(List.of(binary.toString(), "--root", root.toString(),
                "--log", log.toString(), "--log-format", "json"));
        command.addAll(List.of(args));
        return new ProcessBuilder(command);
    }

    private static ProcessBuilder quiet(ProcessBuilder builder, Path bundle) {
        Path output = bundle.resolve("runc-output.log");
        return builder.redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                .redirectOutput(ProcessBuilder.Redirect.appendTo(output.toFile()))
                .redirectErrorStream(true);
    }

    private void run(String op, String id, ProcessBuilder builder, Path log) throws IOException {
        Files.deleteIfExists(log);
        long started = System.nanoTime();
        int code = BoundedCommand.run(reaper, builder, timeout, "runc " + op + " " + id);
        LOG.log(Level.DEBUG, "msg=\"runc {0}\" container={1} exit={2} millis={3}", op, id, code,
                (System.nanoTime() - started) / 1_000_000);
        if (code != 0) {
            throw new IOException("runc " + op + " " + id + " failed (exit " + code + "): " + reason(log));
        }
    }

    private static String reason(Path log) {
        try {
            String text = Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "";
            List<String> errors = RuncLog.errors(text);
            if (!errors.isEmpty()) {
                return String.join("; ", errors);
            }
            return text.isBlank() ? "runc gave no reason" : text.strip();
        } catch (IOException e) {
            return "runc gave no reason (reading " + log + ": " + e.getMessage() + ")";
        }
    }
}
