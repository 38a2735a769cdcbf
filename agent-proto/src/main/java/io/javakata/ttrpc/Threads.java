package io.javakata.ttrpc;

import java.util.concurrent.atomic.AtomicLong;

/** The one place ttrpc makes threads: named virtual threads whose uncaught exceptions are logged. */
final class Threads {

    private static final System.Logger LOG = System.getLogger(Threads.class.getName());
    private static final AtomicLong COUNTER = new AtomicLong();
    private static final Thread.UncaughtExceptionHandler HANDLER = (thread, e) ->
            LOG.log(System.Logger.Level.ERROR, "uncaught exception in thread " + thread.getName(), e);

    private Threads() {
    }

    /** Starts {@code task} on a new virtual thread named {@code name-N}. */
    static Thread startVirtual(String name, Runnable task) {
        Thread thread = newVirtual(name, task);
        thread.start();
        return thread;
    }

    /** A virtual thread named {@code name-N} for {@code task}, not started. */
    static Thread newVirtual(String name, Runnable task) {
        return Thread.ofVirtual()
                .name(name + "-" + COUNTER.incrementAndGet())
                .uncaughtExceptionHandler(HANDLER)
                .unstarted(task);
    }
}
