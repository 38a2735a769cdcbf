package io.javakata.hypervisor.ch;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javakata.hypervisor.Accelerator;
import io.javakata.hypervisor.VmSpec;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The VmConfig the driver sends, as golden files, and the fake API's schema checks it must pass. */
@Timeout(10)
class ChVmConfigTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    static VmSpec spec(VmSpec.SharedFs fs, List<VmSpec.Nic> nics) {
        return new VmSpec("pod-1", Path.of("/run/javakata/sandboxes/abc"), Path.of("/usr/local/bin/cloud-hypervisor"),
                Path.of("/usr/share/javakata/vmlinuz"), Path.of("/usr/share/javakata/initrd.img"), "quiet", 2, 512,
                Accelerator.AUTO, "q35", fs, VmSpec.AgentChannel.SERIAL, Duration.ofSeconds(30))
                .withNetwork(nics.isEmpty() ? null : Path.of("/var/run/netns/cni-1"), nics)
                .withAgentImage(new VmSpec.AgentImage(Path.of("/usr/share/javakata/agent.img"), 66L << 20));
    }

    private static String golden(String name) throws IOException {
        try (InputStream in = ChVmConfigTest.class.getResourceAsStream("/ch/" + name)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8).strip();
        }
    }

    private static String render(VmSpec spec) throws IOException {
        return JSON.writerWithDefaultPrettyPrinter()
                .writeValueAsString(ChVmConfig.of(spec, new ChPaths(spec.stateDir()), CloudHypervisor.GUEST_CID))
                .replace("\r\n", "\n");
    }

    @Test
    void virtiofsAndATapNic() throws IOException {
        VmSpec spec = spec(new VmSpec.SharedFs("javakata", Path.of("/run/s"), Path.of("/usr/lib/qemu/virtiofsd"),
                "auto"), List.of(new VmSpec.Nic("net0", "tap0_jk", "02:42:AC:11:00:02")));
        assertEquals(golden("vmconfig-virtiofs-nic.json"), render(spec));
    }

    @Test
    void noShareNoNicKeepsMemoryPrivate() throws IOException {
        assertEquals(golden("vmconfig-bare.json"), render(spec(null, List.of())));
    }

    @Test
    void whatTheDriverSendsPassesTheSpecsSchema() {
        VmSpec spec = spec(new VmSpec.SharedFs("javakata", Path.of("/run/s"), Path.of("/v"), "auto"),
                List.of(new VmSpec.Nic("net0", "tap0_jk", "02:42:ac:11:00:02")));
        assertEquals(List.of(), problems(ChVmConfig.of(spec, new ChPaths(spec.stateDir()), 3)));
    }

    private static List<String> problems(ObjectNode config) {
        List<String> problems = new ArrayList<>();
        FakeChApi.validate("VmConfig", "", config, problems);
        return problems;
    }

    private static List<String> problemsAfter(Consumer<ObjectNode> change) {
        ObjectNode config = ChVmConfig.of(spec(null, List.of()), new ChPaths(Path.of("/s")), 3);
        change.accept(config);
        return problems(config);
    }

    @Test
    void theFakeHoldsClientsToTheSpec() {
        assertEquals(List.of("missing field `payload` in VmConfig"), problemsAfter(c -> c.remove("payload")));
        assertEquals(List.of("missing field `max_vcpus` in CpusConfig at cpus"),
                problemsAfter(c -> ((ObjectNode) c.get("cpus")).remove("max_vcpus")));
        assertEquals(List.of("unknown field `memory_mib` in MemoryConfig at memory.memory_mib"),
                problemsAfter(c -> ((ObjectNode) c.get("memory")).put("memory_mib", 512)));
        assertEquals(List.of("invalid type at memory.size: expected integer, got \"512M\""),
                problemsAfter(c -> ((ObjectNode) c.get("memory")).put("size", "512M")));
        assertEquals(List.of("vsock.cid must be at least 3, not 2"),
                problemsAfter(c -> ((ObjectNode) c.get("vsock")).put("cid", 2)));
        assertEquals(List.of("console.mode: the virtio console has no Socket mode"),
                problemsAfter(c -> ((ObjectNode) c.get("console")).put("mode", "Socket").put("socket", "/x")));
        assertEquals(List.of("serial.mode: unknown variant `socket`, expected one of [Off, Pty, Tty, File, Socket, Null]"),
                problemsAfter(c -> ((ObjectNode) c.get("serial")).put("mode", "socket")));
        assertEquals(List.of("missing field `queue_size` in FsConfig at fs[0]"),
                problemsAfter(c -> c.putArray("fs").addObject().put("tag", "t").put("socket", "/s")
                        .put("num_queues", 1)));
    }
}
