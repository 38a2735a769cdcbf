package io.javakata.shim.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The command line of the long-lived shim that {@code start} spawns: the same java, the same JVM options (but the
 * daemon's own AOT cache, {@link #serveCache}) and the same jar as the running process, action {@code serve}, in a
 * session of its own through {@code setsid(1)} so that containerd's process-group kill of {@code start} does not reach
 * it.
 */
final class DaemonCommand {

    static final String MAIN_CLASS = "io.javakata.shim.cli.Main";
    private static final String AOT_CACHE = "-XX:AOTCache=";
    /** The daemon's cache beside the launcher's: {@code javakata-shim.aot} and {@code javakata-shim-serve.aot}. */
    static final String SERVE_SUFFIX = "-serve.aot";

    private DaemonCommand() {
    }

    /**
     * @param java         the running java binary
     * @param jvmArguments the running JVM's arguments after the binary (from /proc/self/cmdline), empty if unknown
     * @param codeSource   the jar (or class directory) Main was loaded from
     * @param classPath    the running class path, used when not started with -jar
     * @param shimArgs     the flags and action of the daemon
     */
    static List<String> build(String java, List<String> jvmArguments, Path codeSource, String classPath,
                              List<String> shimArgs) {
        List<String> cmd = new ArrayList<>();
        cmd.add("setsid");
        cmd.add(java);
        int jar = jvmArguments.indexOf("-jar");
        int main = jvmArguments.indexOf(MAIN_CLASS);
        if (jar >= 0) {
            cmd.addAll(serveCache(withoutTraining(jvmArguments.subList(0, jar)), Files::isReadable));
            cmd.add("-jar");
            cmd.add(codeSource.toAbsolutePath().toString());
        } else if (main >= 0) {
            cmd.addAll(serveCache(withoutTraining(jvmArguments.subList(0, main)), Files::isReadable));
            cmd.add(MAIN_CLASS);
        } else {
            cmd.add("-cp");
            cmd.add(classPath);
            cmd.add(MAIN_CLASS);
        }
        cmd.addAll(shimArgs);
        return cmd;
    }

    /**
     * JVM options minus those that record an AOT cache: during make-aot-cache.sh's training run of start, the daemon
     * must not write (or race for) the same cache file; it runs with the options the launcher would give it.
     */
    static List<String> withoutTraining(List<String> options) {
        return options.stream().filter(o -> !o.startsWith("-XX:AOTCacheOutput=") && !o.startsWith("-XX:AOTMode=")
                && !o.startsWith("-XX:AOTConfiguration=")).toList();
    }

    /**
     * JVM options with the launcher's AOT cache {@code X.aot} replaced by the daemon's own {@code X-serve.aot} where
     * {@code readable} says it is there: make-aot-cache.sh trains that one on {@code serve}, whose start-up is on
     * every pod's critical path, and a JVM maps from a cache only what its training loaded.
     */
    static List<String> serveCache(List<String> options, java.util.function.Predicate<Path> readable) {
        return options.stream().map(o -> {
            if (!o.startsWith(AOT_CACHE) || !o.endsWith(".aot") || o.endsWith(SERVE_SUFFIX)) {
                return o;
            }
            String serve = o.substring(AOT_CACHE.length(), o.length() - ".aot".length()) + SERVE_SUFFIX;
            return readable.test(Path.of(serve)) ? AOT_CACHE + serve : o;
        }).toList();
    }

    /** The daemon's flags: containerd's, plus the bundle, the socket to listen on and the chosen config file. */
    static List<String> serveArgs(Flags flags, Path bundle, Path socket, java.util.Optional<Path> config) {
        List<String> args = new ArrayList<>(List.of("-namespace", flags.namespace(), "-address", flags.address()));
        if (!flags.publishBinary().isEmpty()) {
            args.addAll(List.of("-publish-binary", flags.publishBinary()));
        }
        args.addAll(List.of("-id", flags.id()));
        if (flags.debug()) {
            args.add("-debug");
        }
        args.addAll(List.of("-bundle", bundle.toString(), "-socket", socket.toString()));
        config.ifPresent(c -> args.addAll(List.of("-config", c.toString())));
        args.add("serve");
        return args;
    }
}
