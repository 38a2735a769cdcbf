package io.javakata.shim.events;

import com.google.protobuf.Message;

/**
 * Sends task events to containerd in the order they are published (TaskCreate, TaskStart,
 * TaskExit, TaskDelete for one task). {@link #publish} never blocks on the network: events are
 * queued and forwarded by one sender, with retries; a failure is logged, never thrown.
 */
public interface EventPublisher extends AutoCloseable {

    /**
     * Queues an event. The topic is "/tasks/create" etc.; the type URL is
     * "containerd.events." + the message's simple name (for example containerd.events.TaskExit).
     */
    void publish(String topic, Message event);

    /**
     * Waits until every event published so far was forwarded (or given up on), at most
     * {@code timeout}; true if they were. For an event containerd must have before an RPC answers
     * (TaskOOM before Wait returns). Publishers that send synchronously have nothing to wait for.
     */
    default boolean awaitSent(java.time.Duration timeout) {
        return true;
    }

    /** Sends what is queued (waiting at most a few seconds), then stops. */
    @Override
    void close();
}
