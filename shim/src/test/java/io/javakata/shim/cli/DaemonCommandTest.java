package io.javakata.shim.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;

@Timeout(5)
class DaemonCommandTest {

    private static final List<String> SERVE = List.of("-id", "t", "serve");

    @Test
    void keepsJvmOptionsAndUsesTheAbsoluteJar() {
        var cmd = DaemonCommand.build("/usr/lib/jvm/j25/bin/java",
                List.of("-XX:+UseSerialGC", "-Xmx64m", "-jar", "shim.jar", "-id", "t", "start"),
                Path.of("/usr/share/javakata/javakata-shim.jar"), "shim.jar", SERVE);
        assertEquals(List.of("setsid", "/usr/lib/jvm/j25/bin/java", "-XX:+UseSerialGC", "-Xmx64m", "-jar",
                "/usr/share/javakata/javakata-shim.jar", "-id", "t", "serve"), cmd);
    }

    @Test
    void dropsAotTrainingOptions() {
        var cmd = DaemonCommand.build("/j/bin/java", List.of("-XX:AOTCacheOutput=/s/shim.aot", "-Xmx64m",
                "-XX:AOTMode=record", "-XX:AOTConfiguration=/s/x.conf", "-jar", "/s/shim.jar", "start"),
                Path.of("/s/shim.jar"), "/s/shim.jar", SERVE);
        assertEquals(List.of("setsid", "/j/bin/java", "-Xmx64m", "-jar", "/s/shim.jar", "-id", "t", "serve"), cmd);
        assertEquals(List.of("-XX:AOTCache=/s/shim.aot"), DaemonCommand.withoutTraining(
                List.of("-XX:AOTCache=/s/shim.aot")));
    }

    @Test
    void theDaemonGetsItsOwnAotCacheWhereThereIsOne(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        String shared = "-XX:AOTCache=" + dir.resolve("javakata-shim.aot");
        List<String> start = List.of("-Xmx64m", shared, "-jar", dir.resolve("javakata-shim.jar").toString(), "start");
        // No serve cache installed: the daemon keeps the launcher's.
        assertEquals(List.of("setsid", "/j/bin/java", "-Xmx64m", shared, "-jar",
                dir.resolve("javakata-shim.jar").toString(), "-id", "t", "serve"),
                DaemonCommand.build("/j/bin/java", start, dir.resolve("javakata-shim.jar"), "", SERVE));
        java.nio.file.Files.writeString(dir.resolve("javakata-shim-serve.aot"), "cache");
        assertEquals(List.of("setsid", "/j/bin/java", "-Xmx64m",
                "-XX:AOTCache=" + dir.resolve("javakata-shim-serve.aot"), "-jar", dir.resolve("javakata-shim.jar").toString(), "-id", "t", "serve"),
                DaemonCommand.build("/j/bin/java", start, dir.resolve("javakata-shim.jar"), "", SERVE));
        // Only the option that names a cache changes, and a serve cache is not renamed again.
        assertEquals(List.of("-XX:AOTCache=/c/a-serve.aot", "-Xss1m"),
                DaemonCommand.serveCache(List.of("-XX:AOTCache=/c/a-serve.aot", "-Xss1m"), p -> true));
        assertEquals(List.of("-XX:AOTCache=/c/a.aot"),
                DaemonCommand.serveCache(List.of("-XX:AOTCache=/c/a.aot"), p -> false));
    }

    @Test
    void keepsTheClassPathWhenStartedByMainClass() {
        var cmd = DaemonCommand.build("/j/bin/java", List.of("-Xss1m", "-cp", "/a:/b", DaemonCommand.MAIN_CLASS,
                "start"), Path.of("/a"), "/a:/b", SERVE);
        assertEquals(List.of("setsid", "/j/bin/java", "-Xss1m", "-cp", "/a:/b", DaemonCommand.MAIN_CLASS, "-id", "t",
                "serve"), cmd);
    }

    @Test
    void fallsBackToTheClassPathWhenTheCommandLineIsUnknown() {
        var cmd = DaemonCommand.build("/j/bin/java", List.of(), Path.of("/a"), "/a:/b", SERVE);
        assertEquals(List.of("setsid", "/j/bin/java", "-cp", "/a:/b", DaemonCommand.MAIN_CLASS, "-id", "t", "serve"),
                cmd);
    }

    @Test
    void passesContainerdsFlagsTheBundleSocketAndConfig() throws Exception {
        Flags flags = Flags.parse(List.of("-namespace", "k8s.io", "-address", "/run/containerd/containerd.sock",
                "-publish-binary", "/usr/bin/containerd", "-id", "pod1", "-debug", "start"));
        assertEquals(List.of("-namespace", "k8s.io", "-address", "/run/containerd/containerd.sock", "-publish-binary",
                        "/usr/bin/containerd", "-id", "pod1", "-debug", "-bundle", "/b", "-socket", "/run/javakata/s/x",
                        "-config", "/etc/j.toml", "serve"),
                DaemonCommand.serveArgs(flags, Path.of("/b"), Path.of("/run/javakata/s/x"),
                        Optional.of(Path.of("/etc/j.toml"))));
        // and serve parses what start passes
        Flags serve = Flags.parse(DaemonCommand.serveArgs(flags, Path.of("/b"), Path.of("/s"), Optional.empty()));
        assertEquals(Flags.Action.SERVE, serve.action());
        assertEquals(Optional.of(Path.of("/s")), serve.socket());
        assertEquals(Optional.of(Path.of("/b")), serve.bundle());
    }
}
