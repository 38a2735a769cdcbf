package io.javakata.shim.log;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.System.Logger.Level;
import java.time.Instant;

/**
 * Formats one log event as one {@code key=value} line, the logfmt shape containerd's own shims write into the bundle's
 * {@code log} FIFO: {@code time=… level=info msg="…" namespace=… id=… logger=…}, then {@code error=} and a one-line
 * {@code stack=} when a throwable came with the event. Values with spaces, quotes, '=' or control characters are quoted
 * and escaped, so a line never breaks.
 */
public final class LogLine {

    private LogLine() {
    }

    public static String format(Instant time, Level level, String msg, String namespace, String id, String logger,
                                Throwable thrown) {
        var sb = new StringBuilder(128);
        field(sb, "time", time.toString());
        field(sb, "level", levelName(level));
        field(sb, "msg", msg == null ? "" : msg);
        field(sb, "namespace", namespace);
        field(sb, "id", id);
        field(sb, "logger", logger);
        if (thrown != null) {
            field(sb, "error", String.valueOf(thrown.getMessage() != null ? thrown.getMessage() : thrown));
            var trace = new StringWriter();
            thrown.printStackTrace(new PrintWriter(trace));
            field(sb, "stack", trace.toString().strip());
        }
        return sb.toString();
    }

    /** logrus' level names, which containerd's log readers expect. */
    static String levelName(Level level) {
        return switch (level) {
            case ALL, TRACE -> "trace";
            case DEBUG -> "debug";
            case INFO -> "info";
            case WARNING -> "warning";
            case ERROR -> "error";
            case OFF -> "off";
        };
    }

    private static void field(StringBuilder sb, String key, String value) {
        if (!sb.isEmpty()) {
            sb.append(' ');
        }
        sb.append(key).append('=');
        if (!needsQuotes(value)) {
            sb.append(value);
            return;
        }
        sb.append('"');
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }

    private static boolean needsQuotes(String value) {
        if (value.isEmpty()) {
            return true;
        }
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) {
                return true;
            }
        }
        return false;
    }
}
