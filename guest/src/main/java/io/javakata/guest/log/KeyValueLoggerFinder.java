package io.javakata.guest.log;

import java.io.PrintStream;
import java.time.Instant;
import java.util.Locale;

/**
 * Routes every {@link System.Logger} of the agent to one {@code key=value} line per event on stderr,
 * which is the guest console ({@code time= level= logger= msg...}). The threshold comes from the
 * {@code javakata.log.level} system property (default INFO).
 */
public final class KeyValueLoggerFinder extends System.LoggerFinder {

    private final System.Logger.Level threshold;
    private final PrintStream out;

    public KeyValueLoggerFinder() {
        this(parse(System.getProperty("javakata.log.level", "INFO")), System.err);
    }

    KeyValueLoggerFinder(System.Logger.Level threshold, PrintStream out) {
        this.threshold = threshold;
        this.out = out;
    }

    @Override
    public System.Logger getLogger(String name, Module module) {
        return new KeyValueLogger(name, threshold, out);
    }

    static System.Logger.Level parse(String level) {
        try {
            return System.Logger.Level.valueOf(level.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            return System.Logger.Level.INFO;
        }
    }

    static String line(Instant time, System.Logger.Level level, String logger, String message, Throwable thrown) {
        String shortName = logger.substring(logger.lastIndexOf('.') + 1);
        StringBuilder b = new StringBuilder(128).append("time=").append(time)
                .append(" level=").append(level.getName())
                .append(" logger=").append(shortName).append(' ');
        b.append(message.startsWith("msg=") || message.contains("=") ? message : "msg=\"" + message + "\"");
        if (thrown != null) {
            b.append(" error=\"").append(thrown).append('"');
        }
        return b.toString();
    }
}
