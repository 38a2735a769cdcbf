package io.javakata.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.ADDRESS;

/**
 * {@code java -cp <jar> io.javakata.sys.ConfinedExec PROGRAM ARGS...}: installs {@link Seccomp}'s filter on
 * this thread and replaces the JVM with PROGRAM (execv(3), the environment kept). The shim starts virtiofsd
 * this way, so the filter holds from virtiofsd's first instruction. Exits 126 with a message on stderr if
 * either step fails, as a shell does for a command it cannot run.
 */
public final class ConfinedExec {

    private ConfinedExec() {
    }

    public static void main(String[] args) {
        if (args.length == 0) {
            System.err.println("usage: ConfinedExec PROGRAM [ARGS...]");
            System.exit(2);
        }
        try {
            Seccomp.installNoPrivilegedFiles();
            execv(args);
        } catch (ErrnoException e) {
            System.err.println("confined exec of " + args[0] + ": " + e.getMessage());
            System.exit(126);
        }
    }

    /**
     * The command that runs a program under this class with the running JVM's java and this class's code
     * source (the shim's jar): append the program's argv to it. Empty if either is unknown.
     */
    public static Optional<List<String>> launcher() {
        Optional<String> binary = ProcessHandle.current().info().command();
        try {
            var source = ConfinedExec.class.getProtectionDomain().getCodeSource();
            if (binary.isEmpty() || source == null) {
                return Optional.empty();
            }
            String classPath = Path.of(source.getLocation().toURI()).toString();
            // A small, quick JVM: it only installs the filter and execs.
            return Optional.of(List.of(binary.get(), "-Xshare:auto", "-XX:TieredStopAtLevel=1",
                    "-XX:+UseSerialGC", "-Xmx16m", "-XX:-UsePerfData", "-Xlog:disable",
                    "--enable-native-access=ALL-UNNAMED", "-cp", classPath, ConfinedExec.class.getName()));
        } catch (URISyntaxException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** execv(3): returns only by throwing. */
    static void execv(String[] argv) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment array = arena.allocate(ADDRESS, argv.length + 1L);
            for (int i = 0; i < argv.length; i++) {
                array.setAtIndex(ADDRESS, i, arena.allocateFrom(argv[i]));
            }
            array.setAtIndex(ADDRESS, argv.length, MemorySegment.NULL);
            MemorySegment state = LibC.callState(arena);
            int result = (int) LibC.EXECV.invokeExact(state, arena.allocateFrom(argv[0]), array);
            LibC.check("execv(" + argv[0] + ")", result, state);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw LibC.propagate(t);
        }
    }
}
