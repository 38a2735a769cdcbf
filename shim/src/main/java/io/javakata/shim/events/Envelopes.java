package io.javakata.shim.events;

import com.google.protobuf.Any;
import com.google.protobuf.Message;
import com.google.protobuf.Timestamp;
import io.containerd.services.events.ttrpc.v1.Envelope;
import io.containerd.services.events.ttrpc.v1.ForwardRequest;

import java.time.Instant;
import java.util.Objects;

/**
 * Builds the {@code Events/Forward} request for one task event (containerd's shim publisher,
 * runtime/v2/shim/publisher.go: Events/Forward on TTRPC_ADDRESS). The envelope is always set: containerd 1.6.20
 * dereferences it unchecked and dies on a request without one. Its namespace, topic and timestamp are what containerd
 * validates; the event's type URL is {@code containerd.events.<SimpleName>}, without the {@code type.googleapis.com/}
 * prefix, as containerd's own shims send it. The name is the generated class's simple name, which protoc gives the
 * message's own name (java_multiple_files): reading it from the message's descriptor would build every file descriptor
 * of containerd's event protos on each shim's first event (see {@link EventText}).
 */
public final class Envelopes {

    static final String TYPE_URL_PREFIX = "containerd.events.";

    private Envelopes() {
    }

    public static ForwardRequest forward(String namespace, String topic, Message event, Instant timestamp) {
        Objects.requireNonNull(event, "event");
        if (topic == null || !topic.startsWith("/") || topic.length() < 2) {
            throw new IllegalArgumentException("event topic \"" + topic + "\": must start with '/' and name a topic");
        }
        if (namespace == null || namespace.isEmpty()) {
            throw new IllegalArgumentException("event namespace is empty: containerd refuses it");
        }
        var any = Any.newBuilder()
                .setTypeUrl(TYPE_URL_PREFIX + event.getClass().getSimpleName())
                .setValue(event.toByteString());
        var ts = Timestamp.newBuilder().setSeconds(timestamp.getEpochSecond()).setNanos(timestamp.getNano());
        return ForwardRequest.newBuilder()
                .setEnvelope(Envelope.newBuilder().setTimestamp(ts).setNamespace(namespace).setTopic(topic)
                        .setEvent(any))
                .build();
    }
}
