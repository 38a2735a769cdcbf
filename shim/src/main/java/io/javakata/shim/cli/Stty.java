package io.javakata.shim.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** The operator's terminal mode, set with stty(1) on the inherited standard input. */
final class Stty {

    private static final long TIMEOUT_SECONDS = 5;

    private Stty() {
    }

    /** Puts the terminal in raw mode without echo and returns its previous settings ({@code stty -g}). */
    static String raw() throws IOException {
        String saved = stty(List.of("-g")).strip();
        stty(List.of("raw", "-echo"));
        return saved;
    }

    /** Restores settings {@link #raw()} returned. */
    static void restore(String saved) throws IOException {
        stty(List.of(saved));
    }

    private static String stty(List<String> args) throws IOException {
        List<String> argv = new java.util.ArrayList<>(List.of("stty"));
        argv.addAll(args);
        Process p = new ProcessBuilder(argv).redirectInput(ProcessBuilder.Redirect.INHERIT)
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        try {
            String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("stty " + String.join(" ", args) + ": no exit within " + TIMEOUT_SECONDS + " s");
            }
            if (p.exitValue() != 0) {
                throw new IOException("stty " + String.join(" ", args) + " exited with " + p.exitValue());
            }
            return output;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("stty interrupted", e);
        }
    }
}
