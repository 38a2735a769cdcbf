package io.javakata.it;

import java.time.Duration;
import java.util.function.Supplier;

/**
 * Waits for a condition with a deadline, where a sleep would guess how long something takes. The pause between
 * two checks paces the checks (each may run a command in the guest), it is not a guess.
 */
final class Await {

    /** What is waited for; an exception from it ends the wait. */
    interface Condition {
        boolean holds() throws Exception;
    }

    private static final Duration PACE = Duration.ofMillis(200);

    private Await() {
    }

    /** Returns once {@code condition} holds; fails naming {@code what} if it still does not after {@code timeout}. */
    static void until(String what, Duration timeout, Condition condition) throws Exception {
        until(() -> what, timeout, PACE, condition);
    }

    /** As {@link #until(String, Duration, Condition)}, with {@code what} said as it is at the deadline. */
    static void until(Supplier<String> what, Duration timeout, Condition condition) throws Exception {
        until(what, timeout, PACE, condition);
    }

    /** As {@link #until(Supplier, Duration, Condition)}, checking at most once every {@code pace}. */
    static void until(Supplier<String> what, Duration timeout, Duration pace, Condition condition) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.holds()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("not within " + timeout + ": " + what.get());
            }
            Thread.sleep(pace);
        }
    }
}
