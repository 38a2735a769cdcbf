package io.javakata.shim.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.javakata.shim.hostcheck.EffectiveSetup;
import io.javakata.shim.hostcheck.Finding;
import io.javakata.shim.hostcheck.HostCheck;
import io.javakata.shim.hostcheck.HostEnv;
import io.javakata.shim.metrics.NodeMetrics;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Runs the commands an operator types ({@link OperatorArgs}): {@code check}, {@code env} and {@code metrics}. Each prints to stdout and
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
            case "metrics" -> metrics(args);
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

    /**
     * Every pod's metrics under the state directory (--state-dir, else the configuration's), merged and labelled
     * with the pod; exit 0 even with no pod or with pods that did not answer (javakata_pod_scrape_up says which).
     */
    private int metrics(OperatorArgs args) throws Flags.UsageException, IOException {
        Optional<Path> flag = args.path("state-dir");
        Path stateDir;
        if (flag.isPresent()) {
            stateDir = flag.get();
        } else {
            EffectiveSetup setup = EffectiveSetup.resolve(args.path("config"), args.path("containerd-config"), env);
            setup.configError().ifPresent(e -> System.err.println(Main.BINARY + ": " + e + "; using the default "
                    + "state directory"));
            stateDir = setup.config().runtime().stateDir();
        }
        out.print(NodeMetrics.scrape(stateDir));
        return 0;
    }

    /** The effective configuration and versions as one JSON object. */
    private int env(OperatorArgs args) throws Flags.UsageException, IOException {
        EffectiveSetup setup = EffectiveSetup.resolve(args.path("config"), args.path("containerd-config"), env);
        out.println(new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(HostEnv.of(setup)));
        return 0;
    }
}
