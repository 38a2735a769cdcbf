package io.javakata.guest.reaper;

import java.time.Instant;

/** How a process ended: its exit code, or 128 + signal for a death by signal, and when it was reaped. */
public record ExitStatus(int status, Instant exitedAt) {
}
