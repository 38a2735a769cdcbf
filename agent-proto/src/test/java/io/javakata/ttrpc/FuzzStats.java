package io.javakata.ttrpc;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * What one fuzz target did in this JVM: executions, and the size of the corpus Jazzer keeps for it in
 * {@code .cifuzz-corpus/<class>/<method>} (fuzzing mode only). {@code scripts/fuzz.sh} collects the
 * "fuzz-stats" lines. While a target runs, javakata's own log is quiet: fuzzed input makes the code log a
 * warning (with a stack trace for unexpected exceptions) on most executions.
 */
public final class FuzzStats {

    /** Held so the logger (and its level) is not collected while the target runs. */
    private static final java.util.logging.Logger JAVAKATA = java.util.logging.Logger.getLogger("io.javakata");

    private final String target;
    private final Path corpus;
    private final AtomicLong executions = new AtomicLong();

    public FuzzStats(Class<?> testClass, String method) {
        this.target = testClass.getSimpleName() + "." + method;
        this.corpus = Path.of(".cifuzz-corpus", testClass.getName(), method);
        JAVAKATA.setLevel(java.util.logging.Level.OFF);
    }

    public void execution() {
        executions.incrementAndGet();
    }

    /** Prints the figures and gives javakata its log back. */
    public void report() {
        JAVAKATA.setLevel(null);
        long entries;
        try (Stream<Path> files = Files.isDirectory(corpus) ? Files.list(corpus) : Stream.empty()) {
            entries = files.count();
        } catch (IOException e) {
            entries = -1;
        }
        System.out.printf("fuzz-stats %s: %d executions, corpus %d entries, mode %s%n", target, executions.get(),
                entries, System.getenv("JAZZER_FUZZ") == null ? "regression" : "fuzzing");
    }
}
