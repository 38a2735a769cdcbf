package io.javakata.shim.container;

import io.javakata.ttrpc.Errors;
import io.javakata.ttrpc.RuntimeStatusException;

/**
 * The life of a container's process (its init or an exec) as the shim sees it, after containerd's
 * runc shim ({@code process/init_state.go}, {@code exec_state.go}, {@code deleted_state.go}): one
 * record per state and one explicit transition table, {@link #next}. An operation the table does not
 * allow is refused with a code containerd and CRI understand and a message naming the operation and
 * the state.
 */
public sealed interface ProcessState {

    ProcessState CREATED = new Created();
    ProcessState RUNNING = new Running();
    ProcessState PAUSED = new Paused();
    ProcessState STOPPED = new Stopped();
    ProcessState DELETED = new Deleted();

    /**
     * What can happen to a process. EXIT is the guest reporting the process ended. PAUSE, RESUME and
     * EXEC (adding an exec to the container) apply to a container's init process only.
     */
    enum Operation {
        START, KILL, EXIT, DELETE, PAUSE, RESUME, EXEC;

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

    /** Frozen (cgroup freezer in the guest). */
    record Paused() implements ProcessState {
    }

    /** Exited; the exit status is known. */
    record Stopped() implements ProcessState {
    }

    /** Removed from the guest; only its answer to Delete is kept. */
    record Deleted() implements ProcessState {
    }

    /** "created", "running", "paused", "stopped" or "deleted". */
    default String label() {
        return getClass().getSimpleName().toLowerCase(java.util.Locale.ROOT);
    }

    /**
     * The state after {@code op}, or a refusal. The table:
     * <pre>
     *          START    KILL       EXIT     DELETE     PAUSE    RESUME   EXEC
     * created  running  created    stopped  deleted    refused  refused  created
     * running  refused  running    stopped  refused    paused   refused  running
     * paused   refused  paused     stopped  refused    refused  running  refused
     * stopped  refused  NOT_FOUND  refused  deleted    refused  refused  refused
     * deleted  refused  NOT_FOUND  refused  NOT_FOUND  refused  refused  refused
     * </pre>
     * "refused" is FAILED_PRECONDITION. Kill after the exit must be NOT_FOUND: CRI's StopContainer
     * ignores exactly that code (containerd {@code runtime/v2/runc/task/service.go}, containerd/errdefs). A created
     * process may be killed or deleted
     * (CRI removes containers that never started). A paused process can still be killed, and SIGKILL
     * ends it (cgroup v2 freezer). Exec into a stopped container is FAILED_PRECONDITION: the system is
     * not in the state the operation needs (gRPC's {@code doc/statuscodes.md}).
     */
    default ProcessState next(Operation op) {
        return switch (this) {
            case Created c -> switch (op) {
                case START -> RUNNING;
                case KILL, EXEC -> CREATED;
                case EXIT -> STOPPED;
                case DELETE -> DELETED;
                case PAUSE, RESUME -> throw refused(op);
            };
            case Running r -> switch (op) {
                case KILL, EXEC -> RUNNING;
                case EXIT -> STOPPED;
                case PAUSE -> PAUSED;
                case DELETE -> throw Errors.failedPrecondition("cannot delete a running process");
                case START, RESUME -> throw refused(op);
            };
            case Paused p -> switch (op) {
                case KILL -> PAUSED;
                case EXIT -> STOPPED;
                case RESUME -> RUNNING;
                case DELETE -> throw Errors.failedPrecondition("cannot delete a paused process");
                case START, PAUSE, EXEC -> throw refused(op);
            };
            case Stopped s -> switch (op) {
                case KILL -> throw Errors.notFound("process already finished");
                case DELETE -> DELETED;
                case START, EXIT, PAUSE, RESUME, EXEC -> throw refused(op);
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
