package io.javakata.shim.network;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs one host command (iproute2's {@code ip} and {@code tc}) and returns its standard output.
 * Tests pass a fake that records the commands and answers from fixtures.
 */
@FunctionalInterface
public interface CommandRunner {

    /**
     * Runs {@code argv} to completion.
     *
     * @return its standard output
     * @throws IOException if it cannot start, exits non-zero (the message has the command and its
     *                     standard error) or runs longer than ten seconds
     */
    String run(List<String> argv) throws IOException;

    /** The real thing: a child process, stdin from /dev/null, stderr kept for the error message. */
    static CommandRunner host() {
        return argv -> {
            Path err = Files.createTempFile("javakata-cmd", ".err");
            try {
                Process process = new ProcessBuilder(argv)
                        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                        .redirectError(err.toFile())
                        .start();
                String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                    throw new IOException(String.join(" ", argv) + ": still running after 10 s; killed");
                }
                if (process.exitValue() != 0) {
                    String stderr = Files.readString(err).strip();
                    throw new IOException(String.join(" ", argv) + ": exit " + process.exitValue()
                            + (stderr.isEmpty() ? "" : ": " + stderr));
                }
                return out;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException(String.join(" ", argv) + ": interrupted", e);
            } finally {
                Files.deleteIfExists(err);
            }
        };
    }
}
