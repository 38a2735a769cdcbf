package io.javakata.guest.network;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import io.javakata.guest.reaper.BoundedCommand;
import io.javakata.guest.reaper.Reaper;

/**
 * Runs guest commands (busybox {@code ip}, {@code nsenter}); tests pass a fake that records the commands.
 *
 * <p>{@link #runAll} runs a list in one shell: every process the agent's JVM spawns costs it ~75 ms in a TCG guest
 * (posix_spawn through jspawnhelper, then the exec, each translated anew), while a busybox shell forks its applets for
 * a few ms. A pod's network, six {@code ip} commands, took 1.9 s one process each.
 */
@FunctionalInterface
public interface CommandRunner {

    /** How long a guest {@code ip} may run before it is killed. */
    Duration TIMEOUT = Duration.ofSeconds(10);
    /** The line the batch shell writes to its output before it stops at a failed command. */
    String FAILED = "javakata-batch-failed:";

    /** Runs {@code argv}; throws with its output if it exits non-zero, or if it runs past its timeout (then killed). */
    void run(List<String> argv) throws IOException;

    /**
     * Runs {@code commands} in order and stops at the first that fails, throwing as {@link #run} would for it. This
     * default runs each with {@link #run}.
     */
    default void runAll(List<List<String>> commands) throws IOException {
        for (List<String> command : commands) {
            run(command);
        }
    }

    /** The real thing, with {@link #TIMEOUT}. */
    static CommandRunner system(Reaper reaper) {
        return system(reaper, TIMEOUT);
    }

    /**
     * Commands started through {@code reaper}, the agent's one owner of exit statuses (a child started around it could
     * have its status taken as an orphan's), killed after {@code timeout} ({@code timeout} per command for a batch).
     * Their output goes to a file, read once they exit, so the timeout holds even while the command, or a child it
     * left, keeps its output open. A batch is one {@code sh -c} whose script names every argument single-quoted.
     */
    static CommandRunner system(Reaper reaper, Duration timeout) {
        return new CommandRunner() {
            @Override
            public void run(List<String> argv) throws IOException {
                var output = new StringBuilder();
                int code = start(reaper, argv, timeout, String.join(" ", argv), output);
                if (code != 0) {
                    throw new IOException(failure(String.join(" ", argv), code, output.toString()));
                }
            }

            @Override
            public void runAll(List<List<String>> commands) throws IOException {
                if (commands.isEmpty()) {
                    return;
                }
                var output = new StringBuilder();
                int code = start(reaper, List.of("sh", "-c", batchScript(commands)),
                        timeout.multipliedBy(commands.size()),
                        commands.size() + " commands (" + String.join(" ", commands.getFirst()) + " ...)", output);
                if (code != 0) {
                    throw new IOException(batchFailure(code, output.toString()));
                }
            }
        };
    }

    /**
     * A script that runs each command and, at the first that fails, writes {@link #FAILED}, its exit code and the
     * command, and exits with that code.
     */
    static String batchScript(List<List<String>> commands) throws IOException {
        var script = new StringBuilder("step() { \"$@\" && return; code=$?; echo \"" + FAILED
                + " $code $*\" >&2; exit $code; }\n");
        for (List<String> command : commands) {
            script.append("step");
            for (String arg : command) {
                if (arg.indexOf('\0') >= 0) {
                    throw new IOException("a command argument holds a NUL byte: " + String.join(" ", command));
                }
                script.append(" '").append(arg.replace("'", "'\\''")).append('\'');
            }
            script.append('\n');
        }
        return script.toString();
    }

    /**
     * The batch's failure as {@link #run} reports one command's, "COMMAND: exit N: OUTPUT", from the shell's output
     * (the failed command's output, then the {@link #FAILED} line); the shell's own when it stopped before a command.
     */
    static String batchFailure(int code, String output) {
        int marker = output.lastIndexOf(FAILED);
        if (marker < 0) {
            return failure("sh", code, output);
        }
        // "FAILED N COMMAND": N is the shell's own exit code.
        String[] codeAndCommand = output.substring(marker + FAILED.length()).strip().split(" ", 2);
        return failure(codeAndCommand.length > 1 ? codeAndCommand[1] : "?", code, output.substring(0, marker));
    }

    private static String failure(String what, int code, String output) {
        String text = output.strip();
        return what + ": exit " + code + (text.isEmpty() ? "" : ": " + text);
    }

    /** Runs {@code argv} to its exit code, its output (stdout and stderr) appended to {@code output}. */
    private static int start(Reaper reaper, List<String> argv, Duration timeout, String what, StringBuilder output)
            throws IOException {
        Path file = Files.createTempFile("javakata-cmd", ".out");
        try {
            ProcessBuilder builder = new ProcessBuilder(argv).redirectErrorStream(true)
                    .redirectOutput(file.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
            int code = BoundedCommand.run(reaper, builder, timeout, what);
            if (code != 0) {
                output.append(Files.readString(file, StandardCharsets.UTF_8));
            }
            return code;
        } finally {
            Files.deleteIfExists(file);
        }
    }
}
