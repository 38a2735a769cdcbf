package io.javakata.shim.hostcheck;

/** How one host requirement stands. Only {@link #FAIL} keeps the host from running pods. */
public enum Verdict {
    /** Met. */
    OK("ok"),
    /** Not met, and the shim uses a documented fallback (TCG for KVM, virtio-serial for vsock). */
    FALLBACK("fallback"),
    /** Pods run, but something an operator should know about is off. */
    WARN("warn"),
    /** Pods cannot run (or not through CRI) until this is fixed. */
    FAIL("FAIL");

    private final String label;

    Verdict(String label) {
        this.label = label;
    }

    /** The word {@code check} prints: lower case, but FAIL in capitals so it stands out. */
    public String label() {
        return label;
    }
}
