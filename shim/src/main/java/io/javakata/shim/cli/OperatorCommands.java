package io.javakata.shim.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.javakata.shim.diagnose.DebugConsoleClient;
import io.javakata.shim.diagnose.DiagnoseBundle;
import io.javakata.shim.hostcheck.EffectiveSetup;
import io.javakata.shim.hostcheck.Finding;
import io.javakata.shim.hostcheck.HostCheck;
import io.javakata.shim.hostcheck.HostEnv;
import io.javakata.shim.metrics.NodeMetrics;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Runs the commands an operator types ({@link OperatorArgs}): {@code check}, {@code env}, {@code metrics},
 * {@code diagnose} and {@code console}. Each prints to stdout and
 * returns the process's exit code; diagnostics go to stderr.
 */
final class OperatorCommands {

    /** How long a debug console shell may run on after a piped input ended. */
    private static final Duration PIPED_CONSOLE_GRACE = Duration.ofSeconds(30);

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
            case "diagnose" -> diagnose(args);
            case "console" -> console(args);
            case "template" -> template(args);
            case "spares" -> spares(args);
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
        EffectiveSetup setup = EffectiveSetup.resolve(args.path("config"), args.path("containerd-config"), env);
        out.print(NodeMetrics.scrape(stateDir(args, setup)));
        return 0;
    }

    /**
     * One archive about one pod; prints where it went, what is in it and what could not be gathered. Exit 0 once
     * written, even with parts missing (summary.txt in the archive lists them too).
     */
    private int diagnose(OperatorArgs args) throws Flags.UsageException, IOException {
        EffectiveSetup setup = EffectiveSetup.resolve(args.path("config"), args.path("containerd-config"), env);
        var result = DiagnoseBundle.of(setup).write(stateDir(args, setup), args.operands().getFirst(),
                args.path("output"), Path.of("").toAbsolutePath());
        out.println("wrote " + result.archive() + " about " + result.pod());
        out.println("  " + String.join(" ", result.entries()));
        result.missing().forEach(m -> out.println("  not gathered: " + m));
        return 0;
    }

    /**
     * A shell in the pod's guest, outside every container, when its configuration enabled the debug console; exits
     * with the shell's status. On a terminal, the terminal is put in raw mode for the session (keys such as ^C go to
     * the guest) and restored after.
     */
    private int console(OperatorArgs args) throws Flags.UsageException, IOException {
        EffectiveSetup setup = EffectiveSetup.resolve(args.path("config"), args.path("containerd-config"), env);
        String pod = args.operands().getFirst();
        Path socket = DebugConsoleClient.socketOf(stateDir(args, setup), pod);
        boolean terminal = System.console() != null && System.console().isTerminal();
        System.err.println("debug console of " + pod + ": a root shell in the guest, outside every container; "
                + "`exit` ends it" + (terminal ? "\r" : ""));
        String saved = terminal ? Stty.raw() : null;
        try {
            return new DebugConsoleClient(System.in, out, terminal, PIPED_CONSOLE_GRACE).run(socket);
        } finally {
            if (saved != null) {
                Stty.restore(saved);
            }
        }
    }

    /** --state-dir, else the configuration's (the default one, with a warning, if the file is broken). */
    /**
     * {@code template ls}: one line per VM template (its key and directory, then its inputs); {@code template rm}:
     * removes every template, build and failure record, so the next pod of each shape builds its template again, and
     * cleans up the spare VMs whose warm shim is gone (a live spare is a clone with its own memory, as a pod is).
     * Pods running from a template keep their own copy of its memory and are not affected.
     */
    private int template(OperatorArgs args) throws Flags.UsageException, IOException {
        EffectiveSetup setup = EffectiveSetup.resolve(args.path("config"), args.path("containerd-config"), env);
        Path stateDir = stateDir(args, setup);
        var store = io.javakata.hypervisor.qemu.TemplateStore.under(stateDir);
        switch (args.operands().getFirst()) {
            case "ls" -> {
                for (var template : store.list()) {
                    out.println(template.dir().getFileName() + " " + template.dir());
                    if (java.nio.file.Files.exists(template.shapeFile())) {
                        java.nio.file.Files.readAllLines(template.shapeFile()).forEach(l -> out.println("  " + l));
                    }
                }
                return 0;
            }
            case "rm" -> {
                int count = store.list().size();
                store.removeAll();
                out.println("removed " + count + " VM template(s) and " + store.root());
                var spares = io.javakata.shim.sandbox.SpareVms.sweep(io.javakata.shim.sandbox.SpareVms.root(stateDir));
                if (!spares.isEmpty()) {
                    out.println("cleaned up " + spares.size() + " spare VM(s) whose warm shim is gone");
                }
                return 0;
            }
            default -> throw new Flags.UsageException("template: the operand is ls or rm, not \""
                    + args.operands().getFirst() + "\"");
        }
    }

    /**
     * {@code spares ls}: one line per spare VM (docs/architecture.md, "Warm spare VMs"): its directory, the pid of the
     * warm shim that holds it and whether that runs, and its VMM's pid. {@code spares rm}: kills the warm shims that
     * hold spare VMs and cleans up every spare whose shim is gone (its VM's processes, cgroup, share and directory).
     */
    private int spares(OperatorArgs args) throws Flags.UsageException, IOException {
        EffectiveSetup setup = EffectiveSetup.resolve(args.path("config"), args.path("containerd-config"), env);
        Path root = io.javakata.shim.sandbox.SpareVms.root(stateDir(args, setup));
        switch (args.operands().getFirst()) {
            case "ls" -> {
                for (var spare : io.javakata.shim.sandbox.SpareVms.list(root)) {
                    out.println(spare.dir() + " shim " + spare.shimPid() + (spare.shimAlive() ? " running" : " gone")
                            + " vmm " + spare.vmmPid());
                }
                return 0;
            }
            case "rm" -> {
                int killed = io.javakata.shim.sandbox.SpareVms.killShims(root);
                var removed = io.javakata.shim.sandbox.SpareVms.sweep(root);
                out.println("killed " + killed + " warm shim(s) holding spare VMs; cleaned up " + removed.size()
                        + " spare VM(s)");
                return 0;
            }
            default -> throw new Flags.UsageException("spares: the operand is ls or rm, not \""
                    + args.operands().getFirst() + "\"");
        }
    }

    private static Path stateDir(OperatorArgs args, EffectiveSetup setup) throws Flags.UsageException {
        Optional<Path> flag = args.path("state-dir");
        if (flag.isPresent()) {
            return flag.get();
        }
        setup.configError().ifPresent(e -> System.err.println(Main.BINARY + ": " + e + "; using the default state "
                + "directory"));
        return setup.config().runtime().stateDir();
    }

    /** The effective configuration and versions as one JSON object. */
    private int env(OperatorArgs args) throws Flags.UsageException, IOException {
        EffectiveSetup setup = EffectiveSetup.resolve(args.path("config"), args.path("containerd-config"), env);
        out.println(new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(HostEnv.of(setup)));
        return 0;
    }
}
