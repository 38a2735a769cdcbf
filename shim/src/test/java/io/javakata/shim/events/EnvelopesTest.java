package io.javakata.shim.events;

import com.google.protobuf.Timestamp;
import io.containerd.events.TaskExit;
import io.containerd.services.events.ttrpc.v1.ForwardRequest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Instant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(5)
class EnvelopesTest {

    @Test
    void wrapsTheEventInAnEnvelopeLikeTheRuncShim() throws Exception {
        var exit = TaskExit.newBuilder().setContainerId("probe2").setId("probe2").setPid(29774).setExitStatus(5)
                .setExitedAt(Timestamp.newBuilder().setSeconds(1700000000)).build();
        ForwardRequest request = Envelopes.forward("pfns", "/tasks/exit", exit,
                Instant.ofEpochSecond(1700000001, 42));

        // Decode from bytes, as containerd would, so the check covers the wire form.
        ForwardRequest decoded = ForwardRequest.parseFrom(request.toByteArray());
        assertTrue(decoded.hasEnvelope());
        var envelope = decoded.getEnvelope();
        assertEquals("pfns", envelope.getNamespace());
        assertEquals("/tasks/exit", envelope.getTopic());
        assertEquals(Timestamp.newBuilder().setSeconds(1700000001).setNanos(42).build(), envelope.getTimestamp());
        assertEquals("containerd.events.TaskExit", envelope.getEvent().getTypeUrl());
        assertEquals(exit, TaskExit.parseFrom(envelope.getEvent().getValue()));
    }

    @Test
    void typeUrlNamesTheEventsProtobufMessage() {
        for (var event : EventTextTest.events()) {
            var any = Envelopes.forward("ns", "/tasks/x", event, Instant.EPOCH).getEnvelope().getEvent();
            assertEquals("containerd.events." + event.getDescriptorForType().getName(), any.getTypeUrl());
            assertEquals(event.getDescriptorForType().getFullName(), any.getTypeUrl());
        }
    }

    @Test
    void refusesWhatContainerdWouldRefuse() {
        var exit = TaskExit.getDefaultInstance();
        var e = assertThrows(IllegalArgumentException.class,
                () -> Envelopes.forward("ns", "tasks/oom", exit, Instant.EPOCH));
        assertEquals("event topic \"tasks/oom\": must start with '/' and name a topic", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Envelopes.forward("", "/tasks/oom", exit, Instant.EPOCH));
    }
}
