package io.javakata.shim.container;

import io.javakata.ttrpc.Errors;
import io.javakata.ttrpc.RuntimeStatusException;

/**
 * The life of a container's process as the shim sees it, after containerd's runc shim
 * ({@code process/init_state.go}, {@code deleted_state.go}): one record per state and one explicit
 * transition table, {@link #next}. An operation the table does not allow is refused with a code
 * containerd and CRI understand and a message naming the operation and the state.
 */
public sealed interface ProcessState {

    ProcessState CREATED = new Created();
    ProcessState RUNNING = new Running();
    ProcessState STOPPED = new Stopped();
    ProcessState DELETED = new Deleted();

    /** What can happen to a process. EXIT is the guest reporting the process ended. */
    enum Operation {
        START, KILL, EXIT, DELETE;

        String verb() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /** Created in the guest, not started. */
    record Created() implements ProcessState {
    }

    /** Started and not yet reported as exited. */
    record Running() implements ProcessState {
    }

    /** Exited; the exit status is known. */
    record Stopped() implements ProcessState {
    }

    /** Removed from the guest; only its answer to Delete is kept. */
    record Deleted() implements ProcessState {
    }

    /** "created", "running", "stopped" or "deleted". */
    default String label() {
        return getClass().getSimpleName().toLowerCase(java.util.Locale.ROOT);
    }

    /**
     * The state after {@code op}, or a refusal. The table:
     * <pre>
     *            START     KILL                 EXIT      DELETE
     * created    running   created              stopped   deleted
     * running    refused   running              stopped   refused (FAILED_PRECONDITION)
     * stopped    refused   NOT_FOUND            refused   deleted
     * deleted    refused   NOT_FOUND            refused   NOT_FOUND
     * </pre>
     * Kill after the exit must be NOT_FOUND: CRI's StopContainer ignores exactly that code
     * (protocol-facts §3.4). A created process may be killed or deleted (CRI removes containers
     * that never started).
     */
    default ProcessState next(Operation op) {
        return switch (this) {
            case Created c -> switch (op) {
                case START -> RUNNING;
                case KILL -> CREATED;
                case EXIT -> STOPPED;
                case DELETE -> DELETED;
            };
            case Running r -> switch (op) {
                case START -> throw refused(op);
                case KILL -> RUNNING;
                case EXIT -> STOPPED;
                case DELETE -> throw Errors.failedPrecondition("cannot delete a running process");
            };
            case Stopped s -> switch (op) {
                case START, EXIT -> throw refused(op);
                case KILL -> throw Errors.notFound("process already finished");
                case DELETE -> DELETED;
            };
            case Deleted d -> throw op == Operation.KILL || op == Operation.DELETE
                    ? Errors.notFound("process already deleted")
                    : refused(op);
        };
    }

    private RuntimeStatusException refused(Operation op) {
        return Errors.failedPrecondition("cannot %s a process in state %s", op.verb(), label());
    }
}
