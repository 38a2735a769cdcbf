package io.javakata.guest.container;

import java.util.List;
import java.util.Locale;

import io.javakata.ttrpc.Errors;
import io.javakata.ttrpc.RuntimeStatusException;

/**
 * The life of a container process in the guest (its init or an exec), after containerd's runc shim
 * ({@code process/init_state.go}, {@code exec_state.go}) and the shim's own {@code ProcessState}: one record per
 * state and one transition table, {@link #next}. {@link ContainerProcess} applies every event through it, under its
 * lock, so which call is valid in which state is decided here and nowhere else. A refusal is a
 * {@link RuntimeStatusException} whose code the host passes on to containerd unchanged.
 */
public sealed interface ProcessState {

    ProcessState REGISTERED = new Registered();
    ProcessState CREATED = new Created();
    ProcessState STARTING = new Starting();
    ProcessState RUNNING = new Running();
    ProcessState EXITED = new Exited();
    ProcessState REMOVED = new Removed();

    /** Every state, in table order. */
    List<ProcessState> ALL = List.of(REGISTERED, CREATED, STARTING, RUNNING, EXITED, REMOVED);

    /**
     * What can happen to a process. START is StartContainer; STARTED is the runtime having run an exec (its pid is
     * known); EXIT is the reaper's report, a fact that is never refused; SIGNAL is SignalProcess. EXEC (adding an
     * exec), PAUSE, RESUME, UPDATE and DELETE (RemoveContainer: {@code runtime delete --force}, which kills a
     * running init) apply to a container's init; REMOVE (RemoveProcess) to an exec.
     */
    enum Event {
        START("start"), STARTED("record the start of"), EXIT("record the exit of"), SIGNAL("signal"),
        EXEC("exec in"), PAUSE("pause"), RESUME("resume"), UPDATE("update"), REMOVE("remove"), DELETE("delete");

        private final String verb;

        Event(String verb) {
            this.verb = verb;
        }

        /** "start", "exec in", ...: what a refusal says the caller could not do. */
        String verb() {
            return verb;
        }
    }

    /** An exec the host described; nothing runs yet. */
    record Registered() implements ProcessState {
    }

    /** A container's init made by the runtime's {@code create}: it exists and waits for {@code start}. */
    record Created() implements ProcessState {
    }

    /** An exec whose runtime {@code exec} runs: its pid is not known yet. */
    record Starting() implements ProcessState {
    }

    /** Runs its program. */
    record Running() implements ProcessState {
    }

    /** Reaped (or, for an exec, its start failed); its exit status is known. */
    record Exited() implements ProcessState {
    }

    /** Removed from the agent; a caller still holding it gets NOT_FOUND, as one looking it up would. */
    record Removed() implements ProcessState {
    }

    /** "registered", "created", "starting", "running", "exited" or "removed". */
    default String label() {
        return getClass().getSimpleName().toLowerCase(Locale.ROOT);
    }

    /**
     * The state after {@code event}, or a refusal. The table ("—" keeps the state; "refused" is
     * FAILED_PRECONDITION; "NOT_FOUND" names why):
     * <pre>
     *             START     STARTED  EXIT     SIGNAL               EXEC PAUSE RESUME UPDATE  REMOVE   DELETE
     * registered  starting  refused  exited   NOT_FOUND not started  refused               removed  refused
     * created     running   refused  exited   —                    —                       refused  removed
     * starting    refused   running  exited   NOT_FOUND not started  refused               refused  refused
     * running     refused   refused  exited   —                    —                       refused  removed
     * exited      refused   refused  —        NOT_FOUND finished   refused                 removed  removed
     * removed     NOT_FOUND NOT_FOUND —       NOT_FOUND            NOT_FOUND               NOT_FOUND NOT_FOUND
     * </pre>
     * A signal for a process that has exited is NOT_FOUND ("process already finished"): CRI's StopContainer ignores
     * exactly that code (containerd {@code runtime/v2/runc/task/service.go}, containerd/errdefs). Registered, starting
     * and the exec-only events are never seen by an init, nor created and the init-only events by an exec; the table
     * still answers them. An init may be signalled, paused or updated while created (the runtime refuses what it
     * cannot do) and deleted in any state but removed. An exec may be removed unless it may be running (starting or
     * running), as runc's shim refuses to delete a running exec.
     */
    default ProcessState next(Event event) {
        return switch (this) {
            case Registered r -> switch (event) {
                case START -> STARTING;
                case EXIT -> EXITED;
                case SIGNAL -> throw Errors.notFound("process not started");
                case REMOVE -> REMOVED;
                case STARTED, EXEC, PAUSE, RESUME, UPDATE, DELETE -> throw refused(event);
            };
            case Created c -> switch (event) {
                case START -> RUNNING;
                case EXIT -> EXITED;
                case SIGNAL, EXEC, PAUSE, RESUME, UPDATE -> CREATED;
                case DELETE -> REMOVED;
                case STARTED, REMOVE -> throw refused(event);
            };
            case Starting s -> switch (event) {
                case STARTED -> RUNNING;
                case EXIT -> EXITED;
                case SIGNAL -> throw Errors.notFound("process not started");
                case START, EXEC, PAUSE, RESUME, UPDATE, REMOVE, DELETE -> throw refused(event);
            };
            case Running r -> switch (event) {
                case EXIT -> EXITED;
                case SIGNAL, EXEC, PAUSE, RESUME, UPDATE -> RUNNING;
                case DELETE -> REMOVED;
                case START, STARTED, REMOVE -> throw refused(event);
            };
            case Exited x -> switch (event) {
                case EXIT -> EXITED;
                case SIGNAL -> throw Errors.notFound("process already finished");
                case REMOVE, DELETE -> REMOVED;
                case START, STARTED, EXEC, PAUSE, RESUME, UPDATE -> throw refused(event);
            };
            case Removed d -> {
                if (event == Event.EXIT) {
                    yield REMOVED;
                }
                throw Errors.notFound("process was removed");
            }
        };
    }

    private RuntimeStatusException refused(Event event) {
        return Errors.failedPrecondition("cannot %s a process that is %s", event.verb(), label());
    }
}
