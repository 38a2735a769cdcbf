package io.javakata.shim.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.toml.TomlMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;

@Timeout(10)
class EffectiveConfigTest {

    @TempDir
    Path dir;

    @Test
    void namesEveryTableAndKeyTheLoaderKnows() {
        ObjectNode json = EffectiveConfig.toJson(RuntimeConfig.defaults());
        assertEquals(ConfigLoader.KNOWN.keySet(), fieldNames(json));
        ConfigLoader.KNOWN.forEach((table, keys) -> assertEquals(keys, fieldNames(json.get(table)), table));
    }

    @Test
    void printsTheDefaultsOfKeysTheFileLeavesOut() throws Exception {
        Path file = dir.resolve("c.toml");
        Files.writeString(file, "[hypervisor]\nvcpus = 3\n[runtime]\nstate_dir = \"/run/elsewhere\"\n");
        ObjectNode json = EffectiveConfig.toJson(ConfigLoader.load(file));
        assertEquals(3, json.path("hypervisor").path("vcpus").asInt());
        assertEquals(512, json.path("hypervisor").path("memory_mib").asInt());
        assertEquals("/run/elsewhere", json.path("runtime").path("state_dir").asText());
        assertEquals(90, json.path("hypervisor").path("boot_timeout_seconds").asInt());
        assertEquals("serial", json.path("agent").path("transport").asText());
    }

    @Test
    void writtenBackAsTomlItLoadsToTheSameConfiguration() throws Exception {
        Path file = dir.resolve("c.toml");
        Files.writeString(file, "[hypervisor]\naccel = \"tcg\"\nmemory_mib = 1024\n[virtiofsd]\ncache = \"none\"\n");
        RuntimeConfig config = ConfigLoader.load(file);
        Path again = dir.resolve("again.toml");
        Files.writeString(again, new TomlMapper().writeValueAsString(EffectiveConfig.toJson(config)));
        assertEquals(config, ConfigLoader.load(again));
    }

    private static Set<String> fieldNames(JsonNode node) {
        Set<String> names = new HashSet<>();
        node.fieldNames().forEachRemaining(names::add);
        return names;
    }
}
