package io.javakata.shim.container;

import java.time.Instant;
import java.util.Objects;

/**
 * How a process ended.
 *
 * @param status   0-255 for an exit, 128 + signal for a death by signal, 255 when the guest was lost
 * @param exitedAt when the guest saw the exit
 */
public record ExitStatus(int status, Instant exitedAt) {

    public ExitStatus {
        Objects.requireNonNull(exitedAt, "exitedAt");
        if (status < 0 || status > 255) {
            throw new IllegalArgumentException("exit status " + status + ": must be between 0 and 255");
        }
    }
}
