package io.javakata.ttrpc;

/**
 * gRPC status codes, as ttrpc carries them in {@code Response.status.code}. The numbers are fixed by
 * grpc's {@code codes.go}; containerd maps them back to its own errors with {@code errdefs.FromGRPC}.
 */
public enum Code {
    OK(0),
    CANCELLED(1),
    UNKNOWN(2),
    INVALID_ARGUMENT(3),
    DEADLINE_EXCEEDED(4),
    NOT_FOUND(5),
    ALREADY_EXISTS(6),
    PERMISSION_DENIED(7),
    RESOURCE_EXHAUSTED(8),
    FAILED_PRECONDITION(9),
    ABORTED(10),
    OUT_OF_RANGE(11),
    UNIMPLEMENTED(12),
    INTERNAL(13),
    UNAVAILABLE(14),
    DATA_LOSS(15),
    UNAUTHENTICATED(16);

    private static final Code[] BY_VALUE = values();

    private final int value;

    Code(int value) {
        this.value = value;
    }

    public int value() {
        return value;
    }

    /** The code for a wire value; values outside the table are UNKNOWN, as grpc-go treats them. */
    public static Code of(int value) {
        return value >= 0 && value < BY_VALUE.length ? BY_VALUE[value] : UNKNOWN;
    }
}
