package io.javakata.shim.network;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs one host command (iproute2's {@code ip} and {@code tc}, through {@code nsenter}; a batch of them on its
 * standard input, {@link Iproute2#runBatched}) and returns its standard output. Tests pass a fake that records the
 * commands and answers from fixtures.
 */
@FunctionalInterface
public interface CommandRunner {

    /** How long a host command may run before it is killed. */
    Duration TIMEOUT = Duration.ofSeconds(10);
    /** How long a killed command may take to be gone before the failure is reported anyway. */
    Duration KILL_WAIT = Duration.ofSeconds(2);

    /**
     * Runs {@code argv} to completion with {@code stdin} as its standard input (null: none, /dev/null).
     *
     * @return its standard output
     * @throws IOException if it cannot start, exits non-zero (the message has the command and its
     *                     standard error) or runs longer than its timeout (then it and its children are killed)
     */
    String run(List<String> argv, String stdin) throws IOException;

    /** Runs {@code argv} to completion with /dev/null as its standard input; as {@link #run(List, String)}. */
    default String run(List<String> argv) throws IOException {
        return run(argv, null);
    }

    /** The real thing with {@link #TIMEOUT}. */
    static CommandRunner host() {
        return host(TIMEOUT);
    }

    /**
     * A child process per command, killed with its descendants (SIGKILL) after {@code timeout} or when the calling
     * thread is interrupted. Its stdin is a file written before it starts (or /dev/null), its stdout and stderr files
     * read after its exit, so the timeout holds even while the command, or a child it left, keeps them open and no
     * thread of the shim waits on a pipe to it.
     */
    static CommandRunner host(Duration timeout) {
        return (argv, stdin) -> {
            String command = String.join(" ", argv);
            Path in = stdin == null ? null : Files.writeString(Files.createTempFile("javakata-cmd", ".in"), stdin);
            Path out = Files.createTempFile("javakata-cmd", ".out");
            Path err = Files.createTempFile("javakata-cmd", ".err");
            try {
                Process process = new ProcessBuilder(argv)
                        .redirectInput(ProcessBuilder.Redirect.from(in == null ? new File("/dev/null") : in.toFile()))
                        .redirectOutput(out.toFile())
                        .redirectError(err.toFile())
                        .start();
                try {
                    if (!process.waitFor(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
                        kill(process);
                        throw new IOException(command + ": still running after " + timeout.toMillis() + " ms; killed");
                    }
                } catch (InterruptedException e) {
                    kill(process);
                    Thread.currentThread().interrupt();
                    throw new IOException(command + ": interrupted; killed", e);
                }
                if (process.exitValue() != 0) {
                    String stderr = Files.readString(err, StandardCharsets.UTF_8).strip();
                    throw new IOException(command + ": exit " + process.exitValue() + (stderr.isEmpty() ? "" : ": " + stderr));
                }
                return Files.readString(out, StandardCharsets.UTF_8);
            } finally {
                if (in != null) {
                    Files.deleteIfExists(in);
                }
                Files.deleteIfExists(out);
                Files.deleteIfExists(err);
            }
        };
    }

    /** SIGKILL to the command's descendants (they are no longer its descendants once it is dead), then to it. */
    private static void kill(Process process) {
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
        try {
            process.waitFor(KILL_WAIT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
