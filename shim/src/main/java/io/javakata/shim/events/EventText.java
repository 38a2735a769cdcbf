package io.javakata.shim.events;

import com.google.protobuf.Message;
import com.google.protobuf.Timestamp;
import io.containerd.events.TaskCreate;
import io.containerd.events.TaskDelete;
import io.containerd.events.TaskExecAdded;
import io.containerd.events.TaskExecStarted;
import io.containerd.events.TaskExit;
import io.containerd.events.TaskOOM;
import io.containerd.events.TaskPaused;
import io.containerd.events.TaskResumed;
import io.containerd.events.TaskStart;

/**
 * A task event as the text of its log line: its set fields as {@code name: value} pairs in the order of containerd's
 * {@code api/events/task.proto}, as protobuf's text format writes them on one line ({@code container_id: "c1" pid: 12};
 * {@code TextFormat.shortDebugString} for printable ASCII strings). TaskCreate's rootfs mounts and checkpoint are left
 * out: the Create request's own log line names them.
 *
 * <p>Written by hand because protobuf's {@code TextFormat} works from the message's descriptor: the first event of a
 * shim built every file descriptor of containerd's event protos, ~200 ms of a fresh JVM on each pod's create path,
 * for one log line. The type URL of the event's envelope ({@link Envelopes}) is its class name for the same reason.
 */
public final class EventText {

    private EventText() {
    }

    /** The event's fields; an event type this shim does not publish gives its class name alone. */
    public static String of(Message event) {
        var text = new StringBuilder();
        switch (event) {
            case TaskCreate e -> {
                string(text, "container_id", e.getContainerId());
                string(text, "bundle", e.getBundle());
                if (e.hasIo()) {
                    var io = new StringBuilder();
                    string(io, "stdin", e.getIo().getStdin());
                    string(io, "stdout", e.getIo().getStdout());
                    string(io, "stderr", e.getIo().getStderr());
                    number(io, "terminal", e.getIo().getTerminal() ? 1 : 0, "terminal: true");
                    text.append(" io {").append(io).append(" }");
                }
                number(text, "pid", e.getPid(), null);
            }
            case TaskStart e -> {
                string(text, "container_id", e.getContainerId());
                number(text, "pid", e.getPid(), null);
            }
            case TaskExit e -> {
                string(text, "container_id", e.getContainerId());
                string(text, "id", e.getId());
                number(text, "pid", e.getPid(), null);
                number(text, "exit_status", e.getExitStatus(), null);
                time(text, "exited_at", e.hasExitedAt(), e.getExitedAt());
            }
            case TaskDelete e -> {
                string(text, "container_id", e.getContainerId());
                number(text, "pid", e.getPid(), null);
                number(text, "exit_status", e.getExitStatus(), null);
                time(text, "exited_at", e.hasExitedAt(), e.getExitedAt());
                string(text, "id", e.getId());
            }
            case TaskExecAdded e -> {
                string(text, "container_id", e.getContainerId());
                string(text, "exec_id", e.getExecId());
            }
            case TaskExecStarted e -> {
                string(text, "container_id", e.getContainerId());
                string(text, "exec_id", e.getExecId());
                number(text, "pid", e.getPid(), null);
            }
            case TaskOOM e -> string(text, "container_id", e.getContainerId());
            case TaskPaused e -> string(text, "container_id", e.getContainerId());
            case TaskResumed e -> string(text, "container_id", e.getContainerId());
            default -> text.append(' ').append(event.getClass().getSimpleName());
        }
        return text.isEmpty() ? "" : text.substring(1);
    }

    /** A set string field, quoted with {@code "} and {@code \} escaped; the text format leaves out an empty one. */
    private static void string(StringBuilder text, String name, String value) {
        if (value.isEmpty()) {
            return;
        }
        text.append(' ').append(name).append(": \"");
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            switch (c) {
                case '"', '\\' -> text.append('\\').append(c);
                case '\n' -> text.append("\\n");
                default -> text.append(c < 0x20 ? '?' : c);
            }
        }
        text.append('"');
    }

    /** A non-zero number (or, with {@code whenSet}, that text for a set boolean). */
    private static void number(StringBuilder text, String name, long value, String whenSet) {
        if (value != 0) {
            text.append(' ').append(whenSet != null ? whenSet : name + ": " + value);
        }
    }

    private static void time(StringBuilder text, String name, boolean set, Timestamp value) {
        if (set) {
            var fields = new StringBuilder();
            number(fields, "seconds", value.getSeconds(), null);
            number(fields, "nanos", value.getNanos(), null);
            text.append(' ').append(name).append(" {").append(fields).append(" }");
        }
    }
}
