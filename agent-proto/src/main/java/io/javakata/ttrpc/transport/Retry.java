package io.javakata.ttrpc.transport;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Connect retries with exponential back-off until a deadline (Kata {@code sock/hybrid_vsock.rs}): the
 * VMM's socket appears, and the guest starts listening, a while after the VMM starts. A caller that learns the
 * endpoint can no longer answer (its VM ended) completes {@code giveUp}, and the retries stop at once.
 */
final class Retry {

    private static final long FIRST_PAUSE_NANOS = Duration.ofMillis(10).toNanos();
    private static final long MAX_PAUSE_NANOS = Duration.ofMillis(500).toNanos();

    /** One attempt, given the time left before the deadline. */
    @FunctionalInterface
    interface Attempt<T> {
        T run(Duration remaining) throws IOException;
    }

    private Retry() {
    }

    /**
     * Runs {@code attempt} until it succeeds, {@code timeout} has passed (at least once) or {@code giveUp} completes
     * (then not once more).
     *
     * @throws IOException "connect &lt;what&gt;: gave up after N attempts in T: &lt;last error&gt;", or "connect
     *     &lt;what&gt;: given up after N attempts" when {@code giveUp} completed
     */
    static <T> T until(String what, Duration timeout, CompletableFuture<?> giveUp, Attempt<T> attempt)
            throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        long pause = FIRST_PAUSE_NANOS;
        int attempts = 0;
        IOException last = null;
        while (true) {
            if (giveUp.isDone()) {
                throw new IOException("connect " + what + ": given up after " + attempts + " attempts"
                        + (last == null ? "" : " (last error: " + last.getMessage() + ")"), last);
            }
            attempts++;
            try {
                return attempt.run(Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
            } catch (InterruptedIOException e) {
                throw e;
            } catch (IOException e) {
                last = e;
            }
            long left = deadline - System.nanoTime();
            if (left <= 0 && !giveUp.isDone()) {
                throw new IOException("connect " + what + ": gave up after " + attempts + " attempts in "
                        + timeout + ": " + last.getMessage(), last);
            }
            try {
                giveUp.get(Math.max(0, Math.min(pause, left)), TimeUnit.NANOSECONDS);
            } catch (TimeoutException | ExecutionException e) {
                // the pause is over, or the caller gave up (checked above)
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("connect " + what + ": interrupted after " + attempts + " attempts");
            }
            pause = Math.min(pause * 2, MAX_PAUSE_NANOS);
        }
    }
}
