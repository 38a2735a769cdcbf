package io.javakata.shim.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.javakata.shim.hostcheck.EffectiveSetup;
import io.javakata.shim.hostcheck.Finding;
import io.javakata.shim.hostcheck.HostCheck;
import io.javakata.shim.hostcheck.HostEnv;

import java.io.IOException;
import java.io.PrintStream;
import java.util.List;
import java.util.Map;

/**
 * Runs the commands an operator types ({@link OperatorArgs}): {@code check} and {@code env}. Each prints to stdout and
 * returns the process's exit code; diagnostics go to stderr.
 */
final class OperatorCommands {

    private final Map<String, String> env;
    private final PrintStream out;

    OperatorCommands(Map<String, String> env, PrintStream out) {
        this.env = env;
        this.out = out;
    }

    int run(OperatorArgs args) throws Flags.UsageException, IOException {
        return switch (args.command()) {
            case "check" -> check(args);
            case "env" -> env(args);
            default -> throw new Flags.UsageException("unknown command \"" + args.command() + "\"");
        };
    }

    /** One line per requirement and a summary; exit 0 when the host can run pods (fallbacks allowed), else 1. */
    private int check(OperatorArgs args) throws Flags.UsageException {
        EffectiveSetup setup = EffectiveSetup.resolve(args.path("config"), args.path("containerd-config"), env);
        List<Finding> findings = HostCheck.of(setup).run();
        out.print(HostCheck.report(findings));
        return HostCheck.exitCode(findings);
    }

    /** The effective configuration and versions as one JSON object. */
    private int env(OperatorArgs args) throws Flags.UsageException, IOException {
        EffectiveSetup setup = EffectiveSetup.resolve(args.path("config"), args.path("containerd-config"), env);
        out.println(new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(HostEnv.of(setup)));
        return 0;
    }
}
