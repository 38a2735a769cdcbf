package io.javakata.shim.metrics;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Prometheus' text exposition format 0.0.4 (Prometheus docs/instrumenting/exposition_formats.md): metric
 * families, each a {@code # HELP} and a {@code # TYPE} line followed by its samples,
 * {@code name{label="value",…} number}. {@link #write} renders families;
 * {@link #parse} reads back what javakata's shims write (and any well-formed exposition without timestamps'
 * quirks), so the node-level command can relabel and merge them. Values are immutable.
 */
public final class PromText {

    /** The content type a scraper expects for this format. */
    public static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

    private PromText() {
    }

    /**
     * One sample.
     *
     * @param name   the sample's name (a histogram's samples are {@code <family>_bucket}, {@code _sum}, {@code _count})
     * @param labels label name to value, in order
     * @param value  the number
     */
    public record Sample(String name, Map<String, String> labels, double value) {
        public Sample {
            Objects.requireNonNull(name, "name");
            labels = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(labels));
        }

        /** This sample with {@code extra} labels first, replacing none of its own. */
        public Sample withLabels(Map<String, String> extra) {
            Map<String, String> all = new LinkedHashMap<>();
            extra.forEach((k, v) -> {
                if (!labels.containsKey(k)) {
                    all.put(k, v);
                }
            });
            all.putAll(labels);
            return new Sample(name, all, value);
        }
    }

    /**
     * One metric family.
     *
     * @param name    the family's name
     * @param type    counter, gauge, histogram, summary or untyped
     * @param help    one line
     * @param samples its samples
     */
    public record Family(String name, String type, String help, List<Sample> samples) {
        public Family {
            Objects.requireNonNull(name, "name");
            samples = List.copyOf(samples);
        }
    }

    /** Collects families in order; samples added to a family already present are appended to it. Not thread-safe. */
    public static final class Builder {
        private final Map<String, Family> declared = new LinkedHashMap<>();
        private final Map<String, List<Sample>> samples = new LinkedHashMap<>();

        public Builder family(String name, String type, String help) {
            declared.putIfAbsent(name, new Family(name, type, help, List.of()));
            samples.putIfAbsent(name, new ArrayList<>());
            return this;
        }

        /** Adds a sample to family {@code family} (declared with {@link #family} first). */
        public Builder sample(String family, String name, Map<String, String> labels, double value) {
            List<Sample> list = samples.get(family);
            if (list == null) {
                throw new IllegalArgumentException("family " + family + " not declared");
            }
            list.add(new Sample(name, labels, value));
            return this;
        }

        /** Adds a sample named after its family. */
        public Builder sample(String family, Map<String, String> labels, double value) {
            return sample(family, family, labels, value);
        }

        public List<Family> build() {
            return declared.values().stream()
                    .map(f -> new Family(f.name(), f.type(), f.help(), samples.get(f.name()))).toList();
        }
    }

    /** Renders families; a family without samples is left out. */
    public static String write(List<Family> families) {
        var sb = new StringBuilder();
        for (Family f : families) {
            if (f.samples().isEmpty()) {
                continue;
            }
            sb.append("# HELP ").append(f.name()).append(' ').append(escapeHelp(f.help())).append('\n');
            sb.append("# TYPE ").append(f.name()).append(' ').append(f.type()).append('\n');
            for (Sample s : f.samples()) {
                sb.append(s.name());
                if (!s.labels().isEmpty()) {
                    sb.append('{');
                    boolean first = true;
                    for (var label : s.labels().entrySet()) {
                        sb.append(first ? "" : ",").append(label.getKey()).append("=\"")
                                .append(escapeLabel(label.getValue())).append('"');
                        first = false;
                    }
                    sb.append('}');
                }
                sb.append(' ').append(number(s.value())).append('\n');
            }
        }
        return sb.toString();
    }

    /**
     * Reads an exposition: samples belong to the family of the last {@code # TYPE} line before them (the format keeps a
     * family's samples together), or to a family of their own name if none was declared.
     *
     * @throws IllegalArgumentException naming the line number and the line for a malformed sample
     */
    public static List<Family> parse(String text) {
        Builder b = new Builder();
        Map<String, String> help = new LinkedHashMap<>();
        String current = null;
        int number = 0;
        for (String line : text.split("\n")) {
            number++;
            if (line.isBlank()) {
                continue;
            }
            if (line.startsWith("#")) {
                String[] parts = line.split("\\s+", 4);
                if (parts.length >= 3 && parts[1].equals("HELP")) {
                    help.put(parts[2], parts.length == 4 ? unescapeHelp(parts[3]) : "");
                } else if (parts.length >= 4 && parts[1].equals("TYPE")) {
                    current = parts[2];
                    b.family(current, parts[3].strip(), help.getOrDefault(current, ""));
                }
                continue;
            }
            Sample s = sample(line, number);
            String family = current != null && s.name().startsWith(current) ? current : s.name();
            b.family(family, "untyped", help.getOrDefault(family, ""));
            b.sample(family, s.name(), s.labels(), s.value());
        }
        return b.build();
    }

    private static Sample sample(String line, int number) {
        int brace = line.indexOf('{');
        int space = line.indexOf(' ');
        Map<String, String> labels = new LinkedHashMap<>();
        String name;
        int rest;
        if (brace >= 0 && (space < 0 || brace < space)) {
            name = line.substring(0, brace);
            rest = labels(line, brace + 1, labels, number);
        } else if (space > 0) {
            name = line.substring(0, space);
            rest = space;
        } else {
            throw malformed(line, number);
        }
        String[] value = line.substring(rest).strip().split("\\s+");
        try {
            return new Sample(name, labels, parseNumber(value[0]));
        } catch (NumberFormatException e) {
            throw malformed(line, number);
        }
    }

    /** Parses {@code a="x",b="y"}} from {@code i}; returns the index after the closing brace. */
    private static int labels(String line, int i, Map<String, String> labels, int number) {
        while (i < line.length() && line.charAt(i) != '}') {
            int eq = line.indexOf('=', i);
            if (eq < 0 || eq + 1 >= line.length() || line.charAt(eq + 1) != '"') {
                throw malformed(line, number);
            }
            String key = line.substring(i, eq).strip();
            var value = new StringBuilder();
            int j = eq + 2;
            for (; j < line.length() && line.charAt(j) != '"'; j++) {
                char c = line.charAt(j);
                if (c == '\\' && j + 1 < line.length()) {
                    char n = line.charAt(++j);
                    value.append(n == 'n' ? '\n' : n);
                } else {
                    value.append(c);
                }
            }
            if (j >= line.length()) {
                throw malformed(line, number);
            }
            labels.put(key, value.toString());
            i = j + 1;
            if (i < line.length() && line.charAt(i) == ',') {
                i++;
            }
        }
        if (i >= line.length()) {
            throw malformed(line, number);
        }
        return i + 1;
    }

    private static IllegalArgumentException malformed(String line, int number) {
        return new IllegalArgumentException("line " + number + ": not a sample: " + line);
    }

    private static double parseNumber(String s) {
        return switch (s) {
            case "+Inf" -> Double.POSITIVE_INFINITY;
            case "-Inf" -> Double.NEGATIVE_INFINITY;
            case "NaN" -> Double.NaN;
            default -> Double.parseDouble(s);
        };
    }

    static String number(double v) {
        if (Double.isNaN(v)) {
            return "NaN";
        }
        if (Double.isInfinite(v)) {
            return v > 0 ? "+Inf" : "-Inf";
        }
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            return Long.toString((long) v);
        }
        return String.format(Locale.ROOT, "%s", v);
    }

    private static String escapeLabel(String v) {
        return v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }

    private static String escapeHelp(String v) {
        return v.replace("\\", "\\\\").replace("\n", "\\n");
    }

    private static String unescapeHelp(String v) {
        return v.replace("\\n", "\n").replace("\\\\", "\\");
    }
}
