package io.javakata.guest.log;

import java.io.PrintStream;
import java.text.MessageFormat;
import java.time.Instant;
import java.util.ResourceBundle;

/** One logger of {@link KeyValueLoggerFinder}: formats with {@link MessageFormat} and prints one line. */
final class KeyValueLogger implements System.Logger {

    private final String name;
    private final Level threshold;
    private final PrintStream out;

    KeyValueLogger(String name, Level threshold, PrintStream out) {
        this.name = name;
        this.threshold = threshold;
        this.out = out;
    }

    @Override
    public String getName() {
        return name;
    }

    @Override
    public boolean isLoggable(Level level) {
        return level != Level.OFF && level.getSeverity() >= threshold.getSeverity();
    }

    @Override
    public void log(Level level, ResourceBundle bundle, String msg, Throwable thrown) {
        if (isLoggable(level)) {
            out.println(KeyValueLoggerFinder.line(Instant.now(), level, name, String.valueOf(msg), thrown));
            if (thrown != null && level.getSeverity() >= Level.ERROR.getSeverity()) {
                thrown.printStackTrace(out);
            }
        }
    }

    @Override
    public void log(Level level, ResourceBundle bundle, String format, Object... params) {
        if (isLoggable(level)) {
            String msg = params == null || params.length == 0 ? format : MessageFormat.format(format, plain(params));
            out.println(KeyValueLoggerFinder.line(Instant.now(), level, name, msg, null));
        }
    }

    /** MessageFormat would print pid 1234 as "1,234"; numbers go in as plain strings. */
    private static Object[] plain(Object[] params) {
        Object[] copy = params.clone();
        for (int i = 0; i < copy.length; i++) {
            if (copy[i] instanceof Number n) {
                copy[i] = n.toString();
            }
        }
        return copy;
    }
}
