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
import io.javakata.guest.stdio.RuntimeStdio;

/**
 * Drives an OCI runtime's command line: crun in the guest, or any runtime that takes the same commands and global
 * flags ({@code --root}, {@code --log}, {@code --log-format json}), as runc does. Messages name the runtime by its
 * binary's file name ("crun create c1 failed"). Every command logs to a JSON file ({@code --log}), whose error lines
 * become the exception message when the command fails: that is where the runtime says why a container could not be
 * created (crun: "executable file `nosuch` not found in $PATH: No such file or directory").
 *
 * <p>Thread-safe; each call blocks until the runtime exits, at most {@link #TIMEOUT_SECONDS}: then it and what it
 * started (its container init, a hook) are killed and the call fails.
 */
public final class OciCli implements OciRuntime {

    static final long TIMEOUT_SECONDS = 60;
    private static final System.Logger LOG = System.getLogger(OciCli.class.getName());

    private final Path binary;
    private final String name;
    private final Path root;
    private final Reaper reaper;
    private final Duration timeout;

    /**
     * @param binary the runtime's executable
     * @param root   its state directory ({@code --root})
     * @param reaper spawns the runtime and reaps it
     */
    public OciCli(Path binary, Path root, Reaper reaper) {
        this(binary, root, reaper, Duration.ofSeconds(TIMEOUT_SECONDS));
    }

    /** As above, with each command killed after {@code timeout} instead of {@link #TIMEOUT_SECONDS} (tests). */
    OciCli(Path binary, Path root, Reaper reaper, Duration timeout) {
        this.binary = binary;
        this.name = binary.getFileName().toString();
        this.root = root;
        this.reaper = reaper;
        this.timeout = timeout;
    }

    /** {@code create}; a terminal init's pty master goes to {@code stdio}'s console socket. */
    @Override
    public void create(String id, Path bundle, Path pidFile, RuntimeStdio stdio) throws IOException {
        Path log = bundle.resolve("oci-create.log");
        run("create", id, withStdio(builder(log, withConsole(stdio, "create", "--bundle", bundle.toString(),
                "--pid-file", pidFile.toString()), id), stdio), log);
    }

    /** {@code exec --detach}; a terminal exec's pty master goes to {@code stdio}'s console socket. */
    @Override
    public void exec(String id, Path bundle, Path processJson, Path pidFile, RuntimeStdio stdio) throws IOException {
        Path log = processJson.resolveSibling("oci-exec.log");
        run("exec", id, withStdio(builder(log, withConsole(stdio, "exec", "--detach", "--pid-file",
                pidFile.toString(), "--process", processJson.toString()), id), stdio), log);
    }

    /** {@code args}, then {@code --console-socket PATH} when {@code stdio} has one. */
    private static List<String> withConsole(RuntimeStdio stdio, String... args) {
        List<String> all = new ArrayList<>(List.of(args));
        if (stdio.consoleSocket() != null) {
            all.addAll(List.of("--console-socket", stdio.consoleSocket().toString()));
        }
        return all;
    }

    private static ProcessBuilder withStdio(ProcessBuilder builder, RuntimeStdio stdio) {
        return builder.redirectInput(stdio.stdin()).redirectOutput(stdio.stdout()).redirectError(stdio.stderr());
    }

    /** {@code pause} (cgroup freezer). */
    @Override
    public void pause(String id, Path bundle) throws IOException {
        Path log = bundle.resolve("oci-pause.log");
        run("pause", id, quiet(builder(log, "pause", id), bundle), log);
    }

    /** {@code resume}. */
    @Override
    public void resume(String id, Path bundle) throws IOException {
        Path log = bundle.resolve("oci-resume.log");
        run("resume", id, quiet(builder(log, "resume", id), bundle), log);
    }

    /** {@code update --resources <file>}: the file holds OCI LinuxResources JSON. */
    @Override
    public void update(String id, Path bundle, Path resources) throws IOException {
        Path log = bundle.resolve("oci-update.log");
        run("update", id, quiet(builder(log, "update", "--resources", resources.toString(), id), bundle), log);
    }

    @Override
    public void start(String id, Path bundle) throws IOException {
        Path log = bundle.resolve("oci-start.log");
        run("start", id, quiet(builder(log, "start", id), bundle), log);
    }

    @Override
    public void kill(String id, Path bundle, int signal, boolean all) throws IOException {
        Path log = bundle.resolve("oci-kill.log");
        List<String> args = new ArrayList<>(List.of("kill"));
        if (all) {
            args.add("--all");
        }
        args.add(id);
        args.add(Integer.toString(signal));
        run("kill", id, quiet(builder(log, args.toArray(String[]::new)), bundle), log);
    }

    @Override
    public void delete(String id, Path bundle) throws IOException {
        Path log = bundle.resolve("oci-delete.log");
        run("delete", id, quiet(builder(log, "delete", "--force", id), bundle), log);
    }

    private ProcessBuilder builder(Path log, String... args) {
        return builder(log, List.of(args), null);
    }

    /** The global flags, {@code args}, then {@code id} unless null. */
    private ProcessBuilder builder(Path log, List<String> args, String id) {
        List<String> command = new ArrayList<>(List.of(binary.toString(), "--root", root.toString(),
                "--log", log.toString(), "--log-format", "json"));
        command.addAll(args);
        if (id != null) {
            command.add(id);
        }
        return new ProcessBuilder(command);
    }

    private static ProcessBuilder quiet(ProcessBuilder builder, Path bundle) {
        Path output = bundle.resolve("oci-output.log");
        return builder.redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                .redirectOutput(ProcessBuilder.Redirect.appendTo(output.toFile()))
                .redirectErrorStream(true);
    }

    private void run(String op, String id, ProcessBuilder builder, Path log) throws IOException {
        Files.deleteIfExists(log);
        long started = System.nanoTime();
        int code = BoundedCommand.run(reaper, builder, timeout, name + " " + op + " " + id);
        LOG.log(Level.DEBUG, "msg=\"{0} {1}\" container={2} exit={3} millis={4}", name, op, id, code,
                (System.nanoTime() - started) / 1_000_000);
        if (code != 0) {
            throw new IOException(name + " " + op + " " + id + " failed (exit " + code + "): " + reason(log));
        }
    }

    private String reason(Path log) {
        try {
            String text = Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "";
            List<String> errors = OciLog.errors(text);
            if (!errors.isEmpty()) {
                return String.join("; ", errors);
            }
            return text.isBlank() ? name + " gave no reason" : text.strip();
        } catch (IOException e) {
            return name + " gave no reason (reading " + log + ": " + e.getMessage() + ")";
        }
    }
}
