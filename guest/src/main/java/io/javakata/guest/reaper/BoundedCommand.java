package io.javakata.guest.reaper;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs one command the agent needs (crun, poweroff) to its end: spawned and reaped by the {@link Reaper}
 * ({@link Reaper#spawn}), and waited for at most a timeout. When the timeout fires, or the waiting thread is
 * interrupted, the command and every process it started are killed (SIGKILL) and the caller gets an
 * {@link IOException} saying so. The command's output goes to files or FIFOs (a pipe is /dev/null), so nothing the
 * command writes can hold the caller past the timeout.
 *
 * <p>Thread-safe; {@link #run} blocks for at most the timeout plus {@link #KILL_WAIT}.
 */
public final class BoundedCommand {

    /** How long a killed command may take to be gone before {@link #run} reports it anyway. */
    static final Duration KILL_WAIT = Duration.ofSeconds(2);

    private BoundedCommand() {
    }

    /**
     * Starts {@code builder} through {@code reaper} and waits for its exit.
     *
     * @param what names the command in messages ("runc create c1")
     * @return its exit code
     * @throws IOException if it cannot start, is still running after {@code timeout} (then killed), or the caller
     *                     was interrupted (then killed; the interrupt flag stays set)
     */
    public static int run(Reaper reaper, ProcessBuilder builder, Duration timeout, String what) throws IOException {
        Reaper.Child child = reaper.spawn(builder);
        try {
            return child.exit().get(timeout.toNanos(), TimeUnit.NANOSECONDS).status();
        } catch (InterruptedException e) {
            kill(child);
            Thread.currentThread().interrupt();
            throw new IOException(what + ": interrupted; killed", e);
        } catch (TimeoutException e) {
            kill(child);
            throw new IOException(what + ": still running after " + timeout.toMillis() + " ms; killed");
        } catch (ExecutionException e) {
            throw new IOException(what + ": " + e.getCause().getMessage(), e.getCause()); // the reaper never fails one
        }
    }

    /** SIGKILL to the command's descendants, then to the command; waits a little for it to be gone. */
    private static void kill(Reaper.Child child) {
        if (child.exit().isDone()) {
            return; // reaped already: its pid may be another process's by now
        }
        ProcessHandle.of(child.pid()).ifPresent(command -> {
            // Descendants first: once the command is dead they are re-parented to the agent and no longer found.
            command.descendants().forEach(ProcessHandle::destroyForcibly);
            command.destroyForcibly();
        });
        try {
            child.exit().get(KILL_WAIT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            // reported as killed all the same
        }
    }
}
