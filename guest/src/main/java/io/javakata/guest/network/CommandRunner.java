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

/** Runs one guest command (busybox {@code ip}); tests pass a fake that records the commands. */
@FunctionalInterface
public interface CommandRunner {

    /** How long a guest {@code ip} may run before it is killed. */
    Duration TIMEOUT = Duration.ofSeconds(10);

    /** Runs {@code argv}; throws with its output if it exits non-zero, or if it runs past its timeout (then killed). */
    void run(List<String> argv) throws IOException;

    /** The real thing, with {@link #TIMEOUT}. */
    static CommandRunner system(Reaper reaper) {
        return system(reaper, TIMEOUT);
    }

    /**
     * Commands started through {@code reaper}, the agent's one owner of exit statuses (a child started around it could
     * have its status taken as an orphan's), killed after {@code timeout}. Their output goes to a file, read once they
     * exit, so the timeout holds even while the command, or a child it left, keeps its output open.
     */
    static CommandRunner system(Reaper reaper, Duration timeout) {
        return argv -> {
            Path output = Files.createTempFile("javakata-cmd", ".out");
            try {
                ProcessBuilder builder = new ProcessBuilder(argv).redirectErrorStream(true)
                        .redirectOutput(output.toFile())
                        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
                int code = BoundedCommand.run(reaper, builder, timeout, String.join(" ", argv));
                if (code != 0) {
                    String text = Files.readString(output, StandardCharsets.UTF_8).strip();
                    throw new IOException(String.join(" ", argv) + ": exit " + code + (text.isEmpty() ? "" : ": " + text));
                }
            } finally {
                Files.deleteIfExists(output);
            }
        };
    }
}
