package io.javakata.ttrpc;

import io.javakata.ttrpc.proto.Response;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One request in flight on a server connection. Exactly one answer goes out per call: the handler's,
 * or DEADLINE_EXCEEDED if the deadline passes first (then the handler is interrupted and its late result
 * dropped), or none if the connection closes first.
 */
final class ServerCall {

    private final ServerConnection connection;
    private final int streamId;
    private final String service;
    private final String method;
    private final AtomicBoolean answered = new AtomicBoolean();
    /** Completes when the call is answered; its timeout, run by the JDK's delayer, is the deadline. */
    private final CompletableFuture<Void> done = new CompletableFuture<>();
    private volatile Thread thread;
    /**
     * Set by the deadline or the connection's end, never by the handler's own answer: only a cancelled handler is
     * interrupted (an interrupt while it still writes its answer would close the connection's channel).
     */
    private volatile boolean cancelled;

    ServerCall(ServerConnection connection, int streamId, String service, String method) {
        this.connection = connection;
        this.streamId = streamId;
        this.service = service;
        this.method = method;
    }

    void start(Runnable body, long timeoutNanos) {
        // Known before it runs: an abandon() from the moment the handler starts must find the thread to interrupt.
        Thread t = Threads.newVirtual(connection.threadName(method), body);
        thread = t;
        t.start();
        if (cancelled) {
            t.interrupt(); // cancelled before the thread was known or had started: that interrupt may be lost
        }
        if (timeoutNanos > 0) {
            done.orTimeout(timeoutNanos, TimeUnit.NANOSECONDS).whenComplete((v, e) -> {
                if (e instanceof TimeoutException) {
                    expire();
                }
            });
        }
    }

    boolean isOpen() {
        return !answered.get();
    }

    /** The handler's answer, unless the deadline or the connection's end came first. */
    void finish(Response response) {
        if (claim()) {
            connection.send(streamId, response);
        }
    }

    private void expire() {
        if (claim()) {
            interrupt();
            // The delayer thread must not block on a write: answer from a virtual thread.
            Threads.startVirtual("ttrpc-deadline", () -> connection.sendError(streamId, Code.DEADLINE_EXCEEDED,
                    service + "/" + method + ": deadline exceeded"));
        }
    }

    void abandon() {
        if (claim()) {
            interrupt();
        }
    }

    private void interrupt() {
        cancelled = true;
        Thread t = thread;
        if (t != null) {
            t.interrupt();
        }
    }

    private boolean claim() {
        if (!answered.compareAndSet(false, true)) {
            return false;
        }
        done.complete(null);
        connection.forget(streamId);
        return true;
    }
}
