package io.javakata.shim.sandbox;

import java.util.ArrayDeque;
import java.util.Deque;

/**
 * Undo steps of a multi-step setup, run in reverse order when a later step fails. A failing undo
 * step is logged and the rest still run, so one stuck mount does not leak a VM.
 *
 * <p>Not thread-safe: one setup owns one stack.
 */
public final class CleanupStack {

    private static final System.Logger LOG = System.getLogger(CleanupStack.class.getName());

    /** One undo step. */
    @FunctionalInterface
    public interface Step {
        void run() throws Exception;
    }

    private record Named(String what, Step step) {
    }

    private final Deque<Named> steps = new ArrayDeque<>();

    /** Registers how to undo something just done; {@code what} names it in a log line if it fails. */
    public void push(String what, Step step) {
        steps.push(new Named(what, step));
    }

    /** Forgets every step: the setup succeeded and its results now belong to someone else. */
    public void release() {
        steps.clear();
    }

    /** Runs every step, newest first, and empties the stack. */
    public void unwind() {
        while (!steps.isEmpty()) {
            Named named = steps.pop();
            try {
                named.step().run();
            } catch (Exception e) {
                LOG.log(System.Logger.Level.WARNING, "cleanup: " + named.what() + " failed: " + e.getMessage());
            }
        }
    }
}
