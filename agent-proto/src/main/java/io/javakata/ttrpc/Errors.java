package io.javakata.ttrpc;

/** Factories for {@link RuntimeStatusException}, one per code domain code uses. */
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

    private static RuntimeStatusException of(Code code, String format, Object... args) {
        return new RuntimeStatusException(code, args.length == 0 ? format : String.format(format, args));
    }
}
