package io.javakata.shim.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * containerd's shim command line, in Go {@code flag} syntax: flags first, the action last
 * ({@code -namespace ns -address a -publish-binary p -id id [-debug] [-bundle b] start}; containerd
 * {@code runtime/v2/binary.go}, {@code docs/runtime-v2.md}).
 * Each flag may be written {@code -name value}, {@code --name value} or {@code -name=value}. Flags this shim does not
 * know are kept in {@link #ignored()} (later containerd versions may add some) instead of failing the shim.
 *
 * @param namespace     -namespace (required)
 * @param address       -address, containerd's gRPC socket (required)
 * @param publishBinary -publish-binary, containerd's executable (unused: events go over ttrpc)
 * @param id            -id, the task id (required)
 * @param debug         -debug
 * @param bundle        -bundle (given to delete; start runs in the bundle)
 * @param action        what to do
 * @param ignored       unknown flags as written, for a log line
 */
public record Flags(String namespace, String address, String publishBinary, String id, boolean debug,
                    Optional<Path> bundle, Action action, List<String> ignored) {

    /** What containerd asks the binary to do. */
    public enum Action { START, DELETE, VERSION }

    private static final Set<String> ACTIONS = Set.of("start", "delete");
    private static final Set<String> BOOLEANS = Set.of("debug", "v", "version");

    public Flags {
        ignored = List.copyOf(ignored);
    }

    /**
     * Parses an argument vector.
     *
     * @throws UsageException with a one-line message naming the offending argument
     */
    public static Flags parse(List<String> args) throws UsageException {
        var b = new Builder();
        int i = 0;
        while (i < args.size()) {
            String arg = args.get(i);
            if (arg.equals("--")) {
                i++;
                break;
            }
            if (!arg.startsWith("-") || arg.equals("-")) {
                break;
            }
            String body = arg.startsWith("--") ? arg.substring(2) : arg.substring(1);
            int eq = body.indexOf('=');
            String name = eq < 0 ? body : body.substring(0, eq);
            String inline = eq < 0 ? null : body.substring(eq + 1);
            if (name.isEmpty()) {
                throw new UsageException("bad flag syntax: " + arg);
            }
            if (BOOLEANS.contains(name)) {
                b.setBoolean(name, inline == null || parseBoolean(arg, inline));
                i++;
            } else if (b.knows(name)) {
                if (inline == null && i + 1 >= args.size()) {
                    throw new UsageException("flag needs an argument: -" + name);
                }
                b.set(name, inline != null ? inline : args.get(i + 1));
                i += inline != null ? 1 : 2;
            } else {
                // An unknown flag may or may not take a value; Go would know, we guess: a following word that is not
                // an action and does not look like a flag is its value.
                boolean takesNext = inline == null && i + 1 < args.size() && !args.get(i + 1).startsWith("-")
                        && !ACTIONS.contains(args.get(i + 1));
                b.ignored.add(takesNext ? arg + " " + args.get(i + 1) : arg);
                i += takesNext ? 2 : 1;
            }
        }
        List<String> rest = args.subList(i, args.size());
        return b.build(rest);
    }

    private static boolean parseBoolean(String arg, String value) throws UsageException {
        return switch (value) {
            case "true", "1", "t", "T", "TRUE", "True" -> true;
            case "false", "0", "f", "F", "FALSE", "False" -> false;
            default -> throw new UsageException("invalid boolean value \"" + value + "\" for flag " + arg);
        };
    }

    /** A command line containerd or a user got wrong; the message is one line for stderr. */
    public static final class UsageException extends Exception {
        public UsageException(String message) {
            super(message);
        }
    }

    private static final class Builder {
        private String namespace;
        private String address;
        private String publishBinary;
        private String id;
        private boolean debug;
        private boolean version;
        private String bundle;
        private final List<String> ignored = new ArrayList<>();

        boolean knows(String name) {
            return switch (name) {
                case "namespace", "address", "publish-binary", "id", "bundle" -> true;
                default -> false;
            };
        }

        void setBoolean(String name, boolean value) {
            if (name.equals("debug")) {
                debug = value;
            } else {
                version = value;
            }
        }

        void set(String name, String value) {
            switch (name) {
                case "namespace" -> namespace = value;
                case "address" -> address = value;
                case "publish-binary" -> publishBinary = value;
                case "id" -> id = value;
                case "bundle" -> bundle = value;
                default -> throw new IllegalArgumentException(name);
            }
        }

        Flags build(List<String> rest) throws UsageException {
            if (version) {
                return new Flags(orEmpty(namespace), orEmpty(address), orEmpty(publishBinary), orEmpty(id), debug,
                        path(bundle), Action.VERSION, ignored);
            }
            if (rest.isEmpty()) {
                throw new UsageException("missing action: want start or delete after the flags");
            }
            if (rest.size() > 1) {
                throw new UsageException("unexpected arguments after action " + rest.getFirst() + ": "
                        + String.join(" ", rest.subList(1, rest.size())));
            }
            Action action = switch (rest.getFirst()) {
                case "start" -> Action.START;
                case "delete" -> Action.DELETE;
                default -> throw new UsageException("unknown action \"" + rest.getFirst()
                        + "\": want start or delete");
            };
            require("namespace", namespace);
            require("id", id);
            require("address", address);
            return new Flags(namespace, address, orEmpty(publishBinary), id, debug, path(bundle), action, ignored);
        }

        private static void require(String name, String value) throws UsageException {
            if (value == null || value.isEmpty()) {
                throw new UsageException("missing required flag -" + name);
            }
        }

        private static String orEmpty(String s) {
            return s == null ? "" : s;
        }

        private static Optional<Path> path(String s) throws UsageException {
            if (s == null || s.isEmpty()) {
                return Optional.empty();
            }
            try {
                return Optional.of(Path.of(s));
            } catch (java.nio.file.InvalidPathException e) {
                throw new UsageException("invalid path \"" + s + "\": " + e.getReason());
            }
        }
    }
}
