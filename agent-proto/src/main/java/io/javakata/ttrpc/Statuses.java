package io.javakata.ttrpc;

import io.javakata.ttrpc.proto.Status;

/**
 * The one mapping between exceptions and {@code Response.status}, for servers and clients alike
 * (errgrpc's role in containerd): a {@link RuntimeStatusException} keeps its code and message; anything
 * else is UNKNOWN with its message, and its stack trace is logged here, once.
 */
final class Statuses {

    private static final System.Logger LOG = System.getLogger(Statuses.class.getName());

    private Statuses() {
    }

    static Status toStatus(Throwable failure, String call) {
        if (failure instanceof RuntimeStatusException e) {
            // An unexpected failure wrapped with context: its stack is logged here, once, where the call fails.
            if (e.getCause() != null && !(e.getCause() instanceof RuntimeStatusException)
                    && (e.code() == Code.UNKNOWN || e.code() == Code.INTERNAL)) {
                LOG.log(System.Logger.Level.WARNING, call + " failed: " + e.getMessage(), e.getCause());
            }
            return status(e.code(), e.getMessage());
        }
        LOG.log(System.Logger.Level.WARNING, call + " failed with an unexpected exception", failure);
        String message = failure.getMessage() != null ? failure.getMessage() : failure.getClass().getName();
        return status(Code.UNKNOWN, message);
    }

    static Status status(Code code, String message) {
        return Status.newBuilder().setCode(code.value()).setMessage(message).build();
    }

    /** The exception a client throws for a non-OK status. */
    static RuntimeStatusException fromStatus(Status status) {
        return new RuntimeStatusException(Code.of(status.getCode()), status.getMessage());
    }
}
