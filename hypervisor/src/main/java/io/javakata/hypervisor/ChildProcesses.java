package io.javakata.hypervisor;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Helpers shared by the drivers for the host processes they launch (QEMU, virtiofsd): bounded
 * waits, SIGTERM-then-SIGKILL, and the tail of a process's log for error messages.
 *
 * <p>Exit statuses come from {@link ProcessHandle#onExit()}: the JDK reaps its own children, so
 * nothing here calls waitpid.
 */
public final class ChildProcesses {

    private static final System.Logger LOG = System.getLogger(ChildProcesses.class.getName());

    /** How long a process gets after SIGKILL before we report it as unkillable. */
    private static final Duration KILL_WAIT = Duration.ofSeconds(5);

    private ChildProcesses() {
    }

    /**
     * Waits up to {@code timeout} for {@code process} to exit.
     *
     * @return true if it has exited
     */
    public static boolean awaitExit(ProcessHandle process, Duration timeout) {
        if (!process.isAlive()) {
            return true;
        }
        try {
            process.onExit().get(Math.max(1, timeout.toMillis()), TimeUnit.MILLISECONDS);
            return true;
        } catch (TimeoutException e) {
            return !process.isAlive();
        } catch (ExecutionException e) {
            return !process.isAlive();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return !process.isAlive();
        }
    }

    /**
     * Ends {@code process} and every descendant it had when called: SIGTERM, up to
     * {@code termGrace} to exit, then SIGKILL. Never throws; returns once all are gone or after a
     * bounded wait following SIGKILL.
     */
    public static void terminate(ProcessHandle process, Duration termGrace) {
        List<ProcessHandle> tree = process.descendants().toList();
        signalAll(process, tree, false);
        if (awaitAll(process, tree, termGrace)) {
            return;
        }
        signalAll(process, tree, true);
        awaitAll(process, tree, KILL_WAIT);
    }

    private static void signalAll(ProcessHandle process, List<ProcessHandle> tree, boolean forcibly) {
        if (forcibly) {
            process.destroyForcibly();
            tree.forEach(ProcessHandle::destroyForcibly);
        } else {
            process.destroy();
            tree.forEach(ProcessHandle::destroy);
        }
    }

    private static boolean awaitAll(ProcessHandle process, List<ProcessHandle> tree, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        if (!awaitExit(process, timeout)) {
            return false;
        }
        for (ProcessHandle p : tree) {
            Duration left = Duration.ofNanos(Math.max(0, deadline - System.nanoTime()));
            if (!awaitExit(p, left)) {
                return false;
            }
        }
        return true;
    }

    /**
     * The last {@code maxChars} characters of a log file, stripped, for an error message; a
     * placeholder if the file is missing or empty.
     */
    public static String logTail(Path file, int maxChars) {
        try {
            byte[] bytes = Files.readAllBytes(file);
            String text = new String(bytes, StandardCharsets.UTF_8).strip();
            if (text.isEmpty()) {
                return "(" + file + " is empty)";
            }
            return text.length() <= maxChars ? text : "…" + text.substring(text.length() - maxChars);
        } catch (NoSuchFileException e) {
            return "(" + file + " does not exist)";
        } catch (IOException e) {
            return "(cannot read " + file + ": " + e.getMessage() + ")";
        }
    }

    /** Deletes a file if it exists; a failure is logged, not thrown (used on cleanup paths). */
    public static void deleteQuietly(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot delete " + file + ": " + e.getMessage());
        }
    }
}
