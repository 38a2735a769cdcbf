package io.javakata.shim.hostcheck;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The host's {@code /proc}, {@code /sys}, {@code /dev} and {@code /etc} seen under one root: {@code /} for the real
 * host, a directory of fixtures in tests. Stateless.
 *
 * @param root where "/" is
 */
public record HostView(Path root) {

    /** The machine this JVM runs on. */
    public static final HostView REAL = new HostView(Path.of("/"));

    /** {@code absolute} (a path starting with "/") under the root. */
    public Path path(String absolute) {
        if (!absolute.startsWith("/")) {
            throw new IllegalArgumentException(absolute + ": not an absolute path");
        }
        return root.resolve(absolute.substring(1));
    }

    /** The file's text, or empty if it does not exist or cannot be read. */
    public Optional<String> read(String absolute) {
        try {
            return Optional.of(Files.readString(path(absolute)));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** An I/O error as "&lt;file&gt;: &lt;what&gt;" (a NoSuchFileException's message is the bare path). */
    static String describe(IOException e) {
        if (e instanceof java.nio.file.NoSuchFileException missing) {
            return missing.getFile() + ": does not exist";
        }
        if (e instanceof java.nio.file.AccessDeniedException denied) {
            return denied.getFile() + ": permission denied";
        }
        return String.valueOf(e.getMessage());
    }

    public boolean exists(String absolute) {
        return Files.exists(path(absolute));
    }
}
