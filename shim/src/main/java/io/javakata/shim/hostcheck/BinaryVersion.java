package io.javakata.shim.hostcheck;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** The first line a binary prints for {@code --version} (QEMU, virtiofsd), bounded in time. Stateless. */
final class BinaryVersion {

    static final Duration TIMEOUT = Duration.ofSeconds(10);

    private BinaryVersion() {
    }

    /**
     * Runs {@code binary --version} with stdin from /dev/null and returns its first non-blank output line.
     *
     * @throws IOException naming the binary: missing, not executable, killed after {@link #TIMEOUT}, non-zero exit
     */
    static String of(Path binary) throws IOException {
        if (!Files.isRegularFile(binary)) {
            throw new IOException(binary + ": does not exist");
        }
        if (!Files.isExecutable(binary)) {
            throw new IOException(binary + ": not executable");
        }
        Path out = Files.createTempFile("javakata-version", ".out");
        try {
            Process process = new ProcessBuilder(List.of(binary.toString(), "--version"))
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectErrorStream(true)
                    .redirectOutput(out.toFile())
                    .start();
            if (!process.waitFor(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                throw new IOException(binary + " --version: no answer within " + TIMEOUT.toSeconds() + " s; killed");
            }
            String text = Files.readString(out);
            String first = text.lines().map(String::strip).filter(l -> !l.isEmpty()).findFirst().orElse("");
            if (process.exitValue() != 0) {
                throw new IOException(binary + " --version: exit " + process.exitValue() + ": " + first);
            }
            if (first.isEmpty()) {
                throw new IOException(binary + " --version: printed nothing");
            }
            return first;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(binary + " --version: interrupted", e);
        } finally {
            Files.deleteIfExists(out);
        }
    }
}
