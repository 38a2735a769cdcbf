package io.javakata.guest.container;

import java.util.ArrayList;
import java.util.List;

/**
 * Extracts the error messages from an OCI runtime's JSON log ({@code --log-format json}: one object per line,
 * {@code {"level":"error","msg":"...","time":"..."}}, crun's and runc's alike). The runtime reports a failing
 * container init (for example a missing executable) there, not on its exit code.
 */
public final class OciLog {

    private OciLog() {
    }

    /** The "msg" of every line whose level is error or fatal, in order. */
    public static List<String> errors(String log) {
        List<String> messages = new ArrayList<>();
        for (String line : log.split("\n")) {
            String level = field(line, "level");
            if ("error".equals(level) || "fatal".equals(level)) {
                String msg = field(line, "msg");
                if (msg != null && !msg.isBlank()) {
                    messages.add(msg);
                }
            }
        }
        return messages;
    }

    /** The string value of a top-level field of a one-line JSON object, unescaped; null if absent. */
    static String field(String line, String name) {
        String key = "\"" + name + "\":\"";
        int start = line.indexOf(key);
        if (start < 0) {
            return null;
        }
        StringBuilder out = new StringBuilder();
        for (int i = start + key.length(); i < line.length(); i++) {
            char c = line.charAt(i);
            if (c == '"') {
                return out.toString();
            }
            if (c != '\\' || i + 1 >= line.length()) {
                out.append(c);
                continue;
            }
            char e = line.charAt(++i);
            switch (e) {
                case 'n' -> out.append('\n');
                case 't' -> out.append('\t');
                case 'r' -> out.append('\r');
                case 'b' -> out.append('\b');
                case 'f' -> out.append('\f');
                case 'u' -> {
                    if (i + 4 < line.length()) {
                        out.append((char) Integer.parseInt(line.substring(i + 1, i + 5), 16));
                        i += 4;
                    }
                }
                default -> out.append(e);
            }
        }
        return null;
    }
}
