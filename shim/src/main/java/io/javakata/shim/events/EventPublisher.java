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

    /** Sends what is queued (waiting at most a few seconds), then stops. */
    @Override
    void close();
}
