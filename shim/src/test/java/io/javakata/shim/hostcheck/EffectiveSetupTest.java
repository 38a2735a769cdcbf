package io.javakata.shim.hostcheck;

import io.javakata.shim.config.RuntimeConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(10)
class EffectiveSetupTest {

    @TempDir
    Path dir;

    @Test
    void findsTheConfigurationAsTheShimDoes() throws Exception {
        Path flag = Files.writeString(dir.resolve("flag.toml"), "[hypervisor]\nvcpus = 2\n");
        Path named = Files.writeString(dir.resolve("named.toml"), "[hypervisor]\nvcpus = 3\n");
        Path fromEnv = Files.writeString(dir.resolve("env.toml"), "[hypervisor]\nvcpus = 4\n");
        Path containerd = Files.writeString(dir.resolve("containerd.toml"), """
                version = 2
                [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.javakata]
                  runtime_type = "io.containerd.javakata.v2"
                  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.javakata.options]
                    ConfigPath = "%s"
                """.formatted(named));
        Path plain = Files.writeString(dir.resolve("plain.toml"), "version = 2\n");
        Map<String, String> env = Map.of("JAVAKATA_CONFIG", fromEnv.toString());

        var s = EffectiveSetup.resolve(Optional.of(flag), Optional.of(containerd), env);
        assertEquals(2, s.config().hypervisor().vcpus());
        assertEquals("--config", s.configSource());
        s = EffectiveSetup.resolve(Optional.empty(), Optional.of(containerd), env);
        assertEquals(3, s.config().hypervisor().vcpus());
        assertEquals("ConfigPath of the javakata runtime in " + containerd, s.configSource());
        s = EffectiveSetup.resolve(Optional.empty(), Optional.of(plain), env);
        assertEquals(4, s.config().hypervisor().vcpus());
        assertEquals("$JAVAKATA_CONFIG", s.configSource());
        assertTrue(s.fromFile());
    }

    @Test
    void aBadFileKeepsItsErrorAndTheDefaults() throws Exception {
        Path bad = Files.writeString(dir.resolve("bad.toml"), "[hypervisor]\nvcpuz = 2\n");
        var s = EffectiveSetup.resolve(Optional.of(bad), Optional.of(dir.resolve("missing.toml")), Map.of());
        assertEquals(RuntimeConfig.defaults(), s.config());
        assertTrue(s.configError().orElseThrow().startsWith("unknown key hypervisor.vcpuz in " + bad),
                s.configError().orElseThrow());
        assertFalse(s.fromFile());
        assertEquals(Optional.of(dir.resolve("missing.toml") + " does not exist"), s.containerdError());
    }
}
