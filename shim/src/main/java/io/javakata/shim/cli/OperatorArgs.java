package io.javakata.shim.cli;

import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * An operator's command line: the command first, then its options ({@code --name value} or {@code --name=value}) and
 * operands in any order ({@code check --containerd-config /etc/c.toml}, {@code diagnose web-0 --output /tmp/d.tgz}).
 * containerd never starts the shim this way: it always puts its flags first ({@link Flags}), so a first argument that
 * names an operator command cannot be one of containerd's calls.
 *
 * @param command  the command
 * @param options  option name (without dashes) to value
 * @param operands the other arguments, in order
 */
record OperatorArgs(String command, Map<String, String> options, List<String> operands) {

    /** The commands and the options each takes. */
    static final Map<String, Set<String>> COMMANDS = Map.of(
            "check", Set.of("config", "containerd-config"),
            "env", Set.of("config", "containerd-config"),
            "metrics", Set.of("config", "containerd-config", "state-dir"),
            "diagnose", Set.of("config", "containerd-config", "state-dir", "output"),
            "console", Set.of("config", "containerd-config", "state-dir"),
            "template", Set.of("config", "containerd-config", "state-dir"),
            "spares", Set.of("config", "containerd-config", "state-dir"));

    /** Operands each command takes. */
    private static final Map<String, Integer> OPERANDS = Map.of("check", 0, "env", 0, "metrics", 0, "diagnose", 1,
            "console", 1, "template", 1, "spares", 1);

    static final String USAGE = """
            usage: %1$s check    [--config FILE] [--containerd-config FILE]
                   %1$s env      [--config FILE] [--containerd-config FILE]
                   %1$s metrics  [--config FILE] [--containerd-config FILE] [--state-dir DIR]
                   %1$s diagnose POD [--output FILE.tar.gz] [--config FILE] [--containerd-config FILE] [--state-dir DIR]
                   %1$s console  POD [--config FILE] [--containerd-config FILE] [--state-dir DIR]
                   %1$s template ls|rm [--config FILE] [--containerd-config FILE] [--state-dir DIR]
                   %1$s spares   ls|rm [--config FILE] [--containerd-config FILE] [--state-dir DIR]
                   (POD: the pod's name, namespace/name, its sandbox id or a prefix of it)""".formatted(Main.BINARY);

    OperatorArgs {
        options = Map.copyOf(options);
        operands = List.copyOf(operands);
    }

    /** Whether {@code args} is an operator's command line (its first word names a command). */
    static boolean isOperatorCommand(List<String> args) {
        return !args.isEmpty() && COMMANDS.containsKey(args.getFirst());
    }

    /**
     * Parses a command line whose first word is a command.
     *
     * @throws Flags.UsageException naming the unknown option, the missing value or the extra operand
     */
    static OperatorArgs parse(List<String> args) throws Flags.UsageException {
        String command = args.getFirst();
        Set<String> known = COMMANDS.get(command);
        if (known == null) {
            throw new Flags.UsageException("unknown command \"" + command + "\"");
        }
        Map<String, String> options = new LinkedHashMap<>();
        List<String> operands = new ArrayList<>();
        for (int i = 1; i < args.size(); i++) {
            String arg = args.get(i);
            if (!arg.startsWith("-") || arg.equals("-")) {
                operands.add(arg);
                continue;
            }
            String body = arg.startsWith("--") ? arg.substring(2) : arg.substring(1);
            int eq = body.indexOf('=');
            String name = eq < 0 ? body : body.substring(0, eq);
            if (!known.contains(name)) {
                throw new Flags.UsageException(command + ": unknown option " + arg + " (known: "
                        + String.join(", ", known.stream().sorted().map(k -> "--" + k).toList()) + ")");
            }
            if (eq < 0 && i + 1 >= args.size()) {
                throw new Flags.UsageException(command + ": option --" + name + " needs a value");
            }
            options.put(name, eq >= 0 ? body.substring(eq + 1) : args.get(++i));
        }
        int wanted = OPERANDS.get(command);
        if (operands.size() != wanted) {
            throw new Flags.UsageException(wanted == 0
                    ? command + " takes no operand, got: " + String.join(" ", operands)
                    : command + " needs exactly " + wanted + " operand (the pod), got " + operands.size());
        }
        return new OperatorArgs(command, options, operands);
    }

    /** An option naming a path. */
    Optional<Path> path(String option) throws Flags.UsageException {
        String value = options.get(option);
        if (value == null) {
            return Optional.empty();
        }
        if (value.isBlank()) {
            throw new Flags.UsageException(command + ": --" + option + " is empty");
        }
        try {
            return Optional.of(Path.of(value));
        } catch (InvalidPathException e) {
            throw new Flags.UsageException(command + ": --" + option + " \"" + value + "\": " + e.getReason());
        }
    }
}
