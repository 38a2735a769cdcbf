package io.javakata.shim.log;

import java.io.PrintStream;
import java.lang.System.Logger.Level;
import java.time.Clock;
import java.util.Objects;

/**
 * Process-wide log settings of the shim: where lines go and which fields every line carries. The shim starts logging
 * to stderr at INFO; serve points it at the bundle's {@code log} FIFO (through fd 2) once it knows the task. Thread-safe:
 * the settings are one immutable value swapped atomically.
 */
public final class ShimLogging {

    /**
     * One snapshot of the settings.
     *
     * @param namespace containerd namespace, on every line
     * @param id        the task id the shim was started for, on every line
     * @param debug     whether DEBUG (and TRACE) lines are written
     * @param sink      where lines go; each line is written with one call and flushed
     * @param clock     the time source of the {@code time} field
     */
    public record Settings(String namespace, String id, boolean debug, PrintStream sink, Clock clock) {
        public Settings {
            Objects.requireNonNull(namespace, "namespace");
            Objects.requireNonNull(id, "id");
            Objects.requireNonNull(sink, "sink");
            Objects.requireNonNull(clock, "clock");
        }

        boolean enabled(Level level) {
            return level != Level.OFF && level.getSeverity() >= (debug ? Level.DEBUG : Level.INFO).getSeverity();
        }
    }

    private static volatile Settings settings = new Settings("", "", false, System.err, Clock.systemUTC());

    private ShimLogging() {
    }

    /** Sets the fields and level of every later line; lines keep going to the current sink. */
    public static void configure(String namespace, String id, boolean debug) {
        Settings s = settings;
        settings = new Settings(namespace, id, debug, s.sink(), s.clock());
    }

    /** Replaces all settings at once. */
    public static void configure(Settings newSettings) {
        settings = Objects.requireNonNull(newSettings, "settings");
    }

    public static Settings settings() {
        return settings;
    }
}
