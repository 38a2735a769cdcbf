package io.javakata.shim.hostcheck;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(10)
class ContainerdConfigTest {

    @TempDir
    Path dir;

    private Path write(String name, String toml) throws IOException {
        Path file = dir.resolve(name);
        Files.createDirectories(file.getParent());
        Files.writeString(file, toml);
        return file;
    }

    @Test
    void theShimsConfigurationIsTheFirstRuntimesNotAnotherHandlers() throws Exception {
        Path file = write("config.toml", """
                version = 2
                [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.javakata]
                  runtime_type = "io.containerd.javakata.v2"
                [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.javakata-debug]
                  runtime_type = "io.containerd.javakata.v2"
                  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.javakata-debug.options]
                    ConfigPath = "/etc/javakata/debug.toml"
                """);
        ContainerdConfig config = ContainerdConfig.read(file);
        assertEquals(2, config.runtimes().size());
        assertEquals(Optional.empty(), config.shimConfigPath());
    }

    @Test
    void findsTheRuntimeOfAVersion2Config() throws Exception {
        Path file = write("config.toml", """
                version = 2
                [plugins."io.containerd.grpc.v1.cri"]
                  restrict_oom_score_adj = true
                  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
                    runtime_type = "io.containerd.runc.v2"
                  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.javakata]
                    runtime_type = "io.containerd.javakata.v2"
                    pod_annotations = ["io.javakata.*"]
                  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.javakata.options]
                    ConfigPath = "/etc/javakata/other.toml"
                """);
        ContainerdConfig config = ContainerdConfig.read(file);
        assertEquals(List.of(new ContainerdConfig.Runtime("javakata", file, Optional.of(Path.of(
                "/etc/javakata/other.toml")))), config.runtimes());
        assertTrue(config.restrictOomScoreAdj());
        assertEquals(Optional.of(Path.of("/etc/javakata/other.toml")), config.shimConfigPath());
        Finding f = config.finding();
        assertEquals(Verdict.OK, f.verdict());
        assertEquals(file + ": CRI handler javakata ConfigPath=/etc/javakata/other.toml runs io.containerd.javakata.v2",
                f.detail());
    }

    @Test
    void findsRuntimesOfVersion3AndInImportedFiles() throws Exception {
        write("conf.d/10-kata.toml", """
                [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.vm]
                  runtime_type = "io.containerd.javakata.v2"
                """);
        write("conf.d/20-other.toml", "[plugins.x]\n  y = 1\n");
        Path file = write("config.toml", "version = 3\nimports = [\"conf.d/*.toml\"]\n");
        ContainerdConfig config = ContainerdConfig.read(file);
        assertEquals(List.of("vm"), config.runtimes().stream().map(ContainerdConfig.Runtime::handler).toList());
        assertEquals(dir.resolve("conf.d/10-kata.toml"), config.runtimes().getFirst().file());
        assertFalse(config.restrictOomScoreAdj());
        assertTrue(config.finding().detail().contains("CRI handler vm (in " + dir.resolve("conf.d/10-kata.toml") + ")"),
                config.finding().detail());
    }

    @Test
    void aConfigWithoutTheRuntimeFails() throws Exception {
        Path file = write("config.toml", """
                version = 2
                [plugins."io.containerd.grpc.v1.cri".cni]
                  bin_dir = "/usr/lib/cni"
                """);
        Finding f = ContainerdConfig.read(file).finding();
        assertEquals(Verdict.FAIL, f.verdict());
        assertTrue(f.detail().startsWith(file + " has no runtime with runtime_type = \"io.containerd.javakata.v2\""),
                f.detail());
    }

    @Test
    void aMissingOrBrokenFileIsNamed() throws Exception {
        var missing = assertThrows(IOException.class, () -> ContainerdConfig.read(dir.resolve("nope.toml")));
        assertEquals(dir.resolve("nope.toml") + " does not exist", missing.getMessage());
        Path broken = write("broken.toml", "[plugins\n");
        var bad = assertThrows(IOException.class, () -> ContainerdConfig.read(broken));
        assertTrue(bad.getMessage().startsWith(broken + " is not valid TOML: "), bad.getMessage());
    }
}
