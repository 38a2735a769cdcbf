package io.javakata.shim.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
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

    /** What {@code env} prints for the defaults: the file's keys, enums in lower case as the file spells them. */
    @Test
    void theDefaultsPrintAsTheFileSpellsThem() throws Exception {
        assertEquals(new ObjectMapper().readTree("""
                {"hypervisor": {"type": "qemu", "path": "/usr/bin/qemu-system-x86_64",
                  "kernel": "/usr/share/javakata/vmlinuz", "initrd": "/usr/share/javakata/initrd.img",
                  "agent_image": "/usr/share/javakata/agent.img",
                  "machine": "q35", "accel": "auto", "vcpus": 1, "memory_mib": 512, "kernel_params": "",
                  "boot_timeout_seconds": 90, "run_as": "javakata-qemu", "console_log_max_kib": 1024,
                  "guest_lockdown": "confidentiality"},
                 "virtiofsd": {"path": "/usr/lib/qemu/virtiofsd", "cache": "auto"},
                 "agent": {"transport": "auto", "request_timeout_seconds": 30, "debug_console": false,
                   "vhost_device_vsock": "/usr/libexec/javakata/vhost-device-vsock"},
                 "runtime": {"state_dir": "/run/javakata", "debug": false, "warm_shims": 0},
                 "template": {"enabled": true, "max_count": 2, "spares": false}}
                """).toString(), EffectiveConfig.toJson(RuntimeConfig.defaults()).toString());
        ObjectNode other = EffectiveConfig.toJson(ConfigLoader.load(Files.writeString(dir.resolve("o.toml"),
                "[hypervisor]\nmachine = \"microvm\"\naccel = \"tcg\"\n[virtiofsd]\ncache = \"none\"\n"
                        + "[agent]\ntransport = \"vsock\"\n")));
        assertEquals("microvm", other.path("hypervisor").path("machine").asText());
        assertEquals("tcg", other.path("hypervisor").path("accel").asText());
        assertEquals("none", other.path("virtiofsd").path("cache").asText());
        assertEquals("vsock", other.path("agent").path("transport").asText());
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
        assertEquals("auto", json.path("agent").path("transport").asText());
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
