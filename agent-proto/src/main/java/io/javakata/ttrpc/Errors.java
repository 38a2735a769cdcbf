package io.javakata.ttrpc;

/**
 * Factories for {@link RuntimeStatusException}, one per code domain code uses. When a failure has a cause, pass it
 * ({@link #unknown(Throwable, String, Object...)}, {@link #withCause}): the message then ends with what the cause
 * says (its class name when it says nothing, never "null"), and the cause travels with the exception, so the ttrpc
 * server logs its stack once, where the call fails ({@link Statuses}).
 */
public final class Errors {

    private Errors() {
    }

    public static RuntimeStatusException notFound(String format, Object... args) {
        return of(Code.NOT_FOUND, format, args);
    }

    public static RuntimeStatusException alreadyExists(String format, Object... args) {
        return of(Code.ALREADY_EXISTS, format, args);
    }

    public static RuntimeStatusException invalidArgument(String format, Object... args) {
        return of(Code.INVALID_ARGUMENT, format, args);
    }

    public static RuntimeStatusException failedPrecondition(String format, Object... args) {
        return of(Code.FAILED_PRECONDITION, format, args);
    }

    public static RuntimeStatusException unimplemented(String format, Object... args) {
        return of(Code.UNIMPLEMENTED, format, args);
    }

    public static RuntimeStatusException unavailable(String format, Object... args) {
        return of(Code.UNAVAILABLE, format, args);
    }

    public static RuntimeStatusException deadlineExceeded(String format, Object... args) {
        return of(Code.DEADLINE_EXCEEDED, format, args);
    }

    public static RuntimeStatusException resourceExhausted(String format, Object... args) {
        return of(Code.RESOURCE_EXHAUSTED, format, args);
    }

    public static RuntimeStatusException internal(String format, Object... args) {
        return of(Code.INTERNAL, format, args);
    }

    public static RuntimeStatusException cancelled(String format, Object... args) {
        return of(Code.CANCELLED, format, args);
    }

    public static RuntimeStatusException unknown(String format, Object... args) {
        return of(Code.UNKNOWN, format, args);
    }

    /** UNKNOWN: {@code format} (with {@code args}), then ": " and what {@code cause} says; keeps {@code cause}. */
    public static RuntimeStatusException unknown(Throwable cause, String format, Object... args) {
        return withCause(Code.UNKNOWN, cause, format, args);
    }

    /**
     * {@code code}: {@code format} (with {@code args}), then ": " and what {@code cause} says; keeps {@code cause}. A
     * cause that is itself a {@link RuntimeStatusException} keeps its own code only through this call's.
     */
    public static RuntimeStatusException withCause(Code code, Throwable cause, String format, Object... args) {
        String context = args.length == 0 ? format : String.format(format, args);
        return new RuntimeStatusException(code, context + ": " + describe(cause), cause);
    }

    /** What a failure says: its message, or its class's simple name when it has none. */
    public static String describe(Throwable failure) {
        String message = failure.getMessage();
        return message == null || message.isBlank() ? failure.getClass().getSimpleName() : message;
    }

    private static RuntimeStatusException of(Code code, String format, Object... args) {
        return new RuntimeStatusException(code, args.length == 0 ? format : String.format(format, args));
    }
}
