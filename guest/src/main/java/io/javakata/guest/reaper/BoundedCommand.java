package io.javakata.guest.reaper;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Runs one command the agent needs (runc, busybox {@code ip}, poweroff) to its end: started through the {@link Reaper},
 * so that its exit status stays the JDK's, and waited for at most a timeout. When the timeout fires, or the waiting
 * thread is interrupted, the command and every process it started are killed (SIGKILL) and the caller gets an
 * {@link IOException} saying so; the command's output must go to files or FIFOs, never to a pipe the caller reads
 * before the wait, or a hung command would hold the caller past the timeout.
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
        Process process = reaper.start(builder);
        try {
            if (process.waitFor(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
                return process.exitValue();
            }
        } catch (InterruptedException e) {
            kill(process);
            Thread.currentThread().interrupt();
            throw new IOException(what + ": interrupted; killed", e);
        }
        kill(process);
        throw new IOException(what + ": still running after " + timeout.toMillis() + " ms; killed");
    }

    /** SIGKILL to the command's descendants, then to the command; waits a little for it to be gone. */
    private static void kill(Process process) {
        // Descendants first: once the command is dead they are re-parented to the agent and no longer found.
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
        try {
            process.waitFor(KILL_WAIT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
