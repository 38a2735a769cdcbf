package io.javakata.it;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Runs {@code ctr -a <socket> -n <namespace> ...} against one containerd. Each call has a timeout; a command
 * still running then is killed and reported as exit code -1. Thread-safe: it holds no mutable state.
 */
public final class Ctr {

    /** What one ctr command did. */
    public record Result(List<String> command, int exitCode, String stdout, String stderr) {
        /** This result, or an AssertionError that shows the command and both streams. */
        public Result assertOk() {
            if (exitCode != 0) {
                throw new AssertionError(describe());
            }
            return this;
        }

        public String describe() {
            return String.join(" ", command) + "\n  exit code " + exitCode + "\n  stdout: " + stdout.strip()
                    + "\n  stderr: " + stderr.strip();
        }
    }

    private final String binary;
    private final Path socket;
    private final String namespace;

    /** The ctr on PATH. */
    public Ctr(Path socket, String namespace) {
        this("ctr", socket, namespace);
    }

    /** The ctr at {@code binary} (another containerd version's, for its own containerd). */
    public Ctr(String binary, Path socket, String namespace) {
        this.binary = binary;
        this.socket = socket;
        this.namespace = namespace;
    }

    public Path socket() {
        return socket;
    }

    public String namespace() {
        return namespace;
    }

    /** Runs ctr with {@code args}, no stdin. */
    public Result run(Duration timeout, String... args) {
        return runWithStdin(timeout, null, args);
    }

    /** Runs ctr with {@code args}; {@code stdin} (may be null) is written and then closed. */
    public Result runWithStdin(Duration timeout, String stdin, String... args) {
        return execute(command(args), stdin, timeout);
    }

    /**
     * Runs any command the way ctr commands run: {@code stdin} written and closed (null: stdin is /dev/null), both
     * streams read as they come, killed (exit code -1) after {@code timeout}.
     */
    public static Result execute(List<String> command, String stdin, Duration timeout) {
        try {
            ProcessBuilder builder = new ProcessBuilder(command);
            if (stdin == null) {
                // No input at all, as a command run with </dev/null gets it (TaskApiIT's script(1) ran so before).
                builder.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
            }
            Process process = builder.start();
            CompletableFuture<String> out = drain(process.getInputStream());
            CompletableFuture<String> err = drain(process.getErrorStream());
            if (stdin != null) {
                try (var in = process.getOutputStream()) {
                    in.write(stdin.getBytes(StandardCharsets.UTF_8));
                } catch (IOException e) {
                    // ctr may exit before reading stdin (a container that never reads): its exit code says what
                    // happened.
                }
            }
            int code;
            if (process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                code = process.exitValue();
            } else {
                process.destroyForcibly().waitFor();
                code = -1;
            }
            return new Result(command, code, out.join(), err.join() + (code == -1 ? "\n[killed after " + timeout + "]" : ""));
        } catch (IOException e) {
            throw new UncheckedIOException("run " + String.join(" ", command), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while running " + String.join(" ", command), e);
        }
    }

    /** Starts ctr with {@code args} in the background (for {@code ctr events}); the caller destroys it. */
    public Process start(Path stdout, String... args) {
        try {
            return new ProcessBuilder(command(args)).redirectOutput(stdout.toFile())
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        } catch (IOException e) {
            throw new UncheckedIOException("start " + String.join(" ", command(args)), e);
        }
    }

    /**
     * Starts {@code ctr events} writing to {@code stdout} and returns once it is subscribed, so that it misses
     * no event of what the caller does next: the namespace is labelled until ctr prints that update. The caller
     * destroys the process.
     */
    public Process startEvents(Path stdout, Duration timeout) throws Exception {
        Process events = start(stdout, "events");
        run(timeout, "namespaces", "create", namespace); // fails harmlessly when it exists already
        int[] probe = {0};
        try {
            Await.until("ctr events subscribed (a namespace label update in " + stdout + ")", timeout, () -> {
                run(timeout, "namespaces", "label", namespace, "javakata.it.events-probe=" + ++probe[0]).assertOk();
                return Files.readString(stdout).contains("/namespaces/update");
            });
        } catch (Exception | AssertionError e) {
            events.destroyForcibly().waitFor();
            throw e;
        }
        return events;
    }

    private List<String> command(String... args) {
        var command = new ArrayList<String>(List.of(binary, "-a", socket.toString(), "-n", namespace));
        command.addAll(List.of(args));
        return command;
    }

    private static CompletableFuture<String> drain(InputStream stream) {
        var result = new CompletableFuture<String>();
        Thread.ofVirtual().name("ctr-drain").start(() -> {
            try (stream) {
                result.complete(new String(stream.readAllBytes(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                result.complete("[read failed: " + e.getMessage() + "]");
            }
        });
        return result;
    }
}
