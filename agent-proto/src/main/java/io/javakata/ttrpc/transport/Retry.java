package io.javakata.ttrpc.transport;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.time.Duration;

/**
 * Connect retries with exponential back-off until a deadline (Kata {@code sock/hybrid_vsock.rs}): the
 * VMM's socket appears, and the guest starts listening, a while after the VMM starts.
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
     * Runs {@code attempt} until it succeeds or {@code timeout} has passed; at least once.
     *
     * @throws IOException "connect &lt;what&gt;: gave up after N attempts in T: &lt;last error&gt;"
     */
    static <T> T until(String what, Duration timeout, Attempt<T> attempt) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        long pause = FIRST_PAUSE_NANOS;
        int attempts = 0;
        while (true) {
            attempts++;
            IOException last;
            try {
                return attempt.run(Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
            } catch (InterruptedIOException e) {
                throw e;
            } catch (IOException e) {
                last = e;
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new IOException("connect " + what + ": gave up after " + attempts + " attempts in "
                        + timeout + ": " + last.getMessage(), last);
            }
            try {
                Thread.sleep(Duration.ofNanos(Math.min(pause, left)));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("connect " + what + ": interrupted after " + attempts + " attempts");
            }
            pause = Math.min(pause * 2, MAX_PAUSE_NANOS);
        }
    }
}
