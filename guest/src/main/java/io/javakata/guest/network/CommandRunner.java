package io.javakata.guest.network;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs one guest command (busybox {@code ip}); tests pass a fake that records the commands. */
@FunctionalInterface
public interface CommandRunner {

    /** Runs {@code argv}; throws with its output if it exits non-zero or runs past ten seconds. */
    void run(List<String> argv) throws IOException;

    static CommandRunner system() {
        return argv -> {
            Process process = new ProcessBuilder(argv).redirectErrorStream(true)
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
            String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            try {
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                    throw new IOException(String.join(" ", argv) + ": still running after 10 s");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException(String.join(" ", argv) + ": interrupted", e);
            }
            if (process.exitValue() != 0) {
                throw new IOException(String.join(" ", argv) + ": exit " + process.exitValue()
                        + (output.isEmpty() ? "" : ": " + output));
            }
        };
    }
}
