package io.javakata.ttrpc;

/**
 * The one exception domain code throws to fail an RPC. Each ttrpc server maps it to
 * {@code Response.status} in exactly one place, and each client turns a non-OK status back into it,
 * so a code raised in the guest reaches containerd unchanged.
 */
public final class RuntimeStatusException extends RuntimeException {

    private final Code code;

    public RuntimeStatusException(Code code, String message) {
        super(message);
        this.code = code;
    }

    public RuntimeStatusException(Code code, String message, Throwable cause) {
        super(message, cause);
        this.code = code;
    }

    public Code code() {
        return code;
    }

    /** The same code with context prepended, e.g. "start sandbox s1: " + the original message. */
    public RuntimeStatusException withContext(String context) {
        return new RuntimeStatusException(code, context + ": " + getMessage(), this);
    }

    @Override
    public String toString() {
        return code + ": " + getMessage();
    }
}
