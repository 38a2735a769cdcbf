package io.javakata.ttrpc.transport;

import java.time.Duration;

/** Waits for a condition with a deadline, where a sleep would guess how long something takes. */
final class Await {

    /** What is waited for; an exception from it ends the wait. */
    interface Condition {
        boolean holds() throws Exception;
    }

    private static final Duration POLL = Duration.ofMillis(5);

    private Await() {
    }

    /** Returns once {@code condition} holds; fails naming {@code what} if it still does not after {@code timeout}. */
    static void until(String what, Duration timeout, Condition condition) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.holds()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("not within " + timeout + ": " + what);
            }
            Thread.sleep(POLL);
        }
    }
}
