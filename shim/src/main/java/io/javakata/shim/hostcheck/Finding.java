package io.javakata.shim.hostcheck;

import java.util.Objects;

/**
 * The outcome of checking one requirement.
 *
 * @param requirement short name ({@code kvm}, {@code qemu}, {@code containerd-config}, ...)
 * @param verdict     how it stands
 * @param detail      one line: what was found and, unless OK, why it matters and what is used instead
 */
public record Finding(String requirement, Verdict verdict, String detail) {
    public Finding {
        Objects.requireNonNull(requirement, "requirement");
        Objects.requireNonNull(verdict, "verdict");
        detail = detail.replace('\n', ' ').strip();
    }

    static Finding ok(String requirement, String detail) {
        return new Finding(requirement, Verdict.OK, detail);
    }

    static Finding fallback(String requirement, String detail) {
        return new Finding(requirement, Verdict.FALLBACK, detail);
    }

    static Finding warn(String requirement, String detail) {
        return new Finding(requirement, Verdict.WARN, detail);
    }

    static Finding fail(String requirement, String detail) {
        return new Finding(requirement, Verdict.FAIL, detail);
    }
}
