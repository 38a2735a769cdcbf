package io.javakata.shim.task;

import com.google.protobuf.Message;
import io.javakata.shim.events.EventPublisher;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BiConsumer;

/** Keeps every published event, in order; an optional hook runs synchronously inside publish. */
final class RecordingPublisher implements EventPublisher {

    record Event(String topic, Message message) {
    }

    final List<Event> events = new CopyOnWriteArrayList<>();
    volatile BiConsumer<String, Message> hook = (topic, message) -> { };

    @Override
    public void publish(String topic, Message event) {
        hook.accept(topic, event);
        events.add(new Event(topic, event));
    }

    List<String> topics() {
        return events.stream().map(Event::topic).toList();
    }

    @SuppressWarnings("unchecked")
    <T extends Message> T last(String topic) {
        return (T) events.reversed().stream().filter(e -> e.topic().equals(topic)).findFirst().orElseThrow().message();
    }

    @Override
    public void close() {
    }
}
