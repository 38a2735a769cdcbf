package io.javakata.hypervisor.qemu;

import io.javakata.hypervisor.Accelerator;
import io.javakata.hypervisor.VmSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(10)
class TemplateShapeTest {

    @TempDir
    Path dir;

    private VmSpec spec(int vcpus, String machine, VmSpec.AgentChannel channel) throws IOException {
        Path kernel = dir.resolve("vmlinuz");
        Path initrd = dir.resolve("initrd.img");
        Path qemu = dir.resolve("qemu");
        for (Path p : List.of(kernel, initrd, qemu)) {
            if (!Files.exists(p)) {
                Files.writeString(p, p.getFileName().toString());
            }
        }
        return new VmSpec("pod-1", dir.resolve("pod"), qemu, kernel, initrd, "", vcpus, 512, Accelerator.AUTO, machine,
                null, channel, Duration.ofSeconds(30));
    }

    private String hash(VmSpec spec) throws IOException {
        return TemplateShape.of(spec, Accelerator.TCG, "1.0", dir.resolve("digests")).hash();
    }

    @Test
    void theHashFollowsEveryInputOfTheVmAndNothingOfThePod() throws IOException {
        VmSpec base = spec(1, "q35", VmSpec.AgentChannel.SERIAL);
        String h = hash(base);
        assertEquals(h, hash(base), "stable");
        assertNotEquals(h, hash(spec(2, "q35", VmSpec.AgentChannel.SERIAL)), "vcpus");
        assertNotEquals(h, hash(base.withDebugConsole(true)), "debug console");
        assertNotEquals(h, TemplateShape.of(base, Accelerator.KVM, "1.0", dir.resolve("digests")).hash(), "accel");
        assertNotEquals(h, TemplateShape.of(base, Accelerator.TCG, "1.1", dir.resolve("digests")).hash(), "javakata");
        VmSpec pod = base.withNetwork(Path.of("/var/run/netns/cni-1"), List.of(new VmSpec.Nic("net0", "tap0_jk",
                "02:42:ac:11:00:02"))).withHostLimits("javakata-qemu", 1 << 20).withHostCgroup(List.of(Path.of("/sys/fs/cgroup/x")));
        assertEquals(h, hash(pod), "a pod's network, cgroup and user are not part of the shape");
    }

    @Test
    void aReplacedKernelIsHashedAgainByContent() throws IOException {
        VmSpec base = spec(1, "q35", VmSpec.AgentChannel.SERIAL);
        String h = hash(base);
        Files.writeString(base.kernel(), "another kernel");
        Files.setLastModifiedTime(base.kernel(), FileTime.fromMillis(1_000_000));
        assertNotEquals(h, hash(base));
        Files.writeString(base.kernel(), "vmlinuz");
        Files.setLastModifiedTime(base.kernel(), FileTime.fromMillis(2_000_000));
        assertEquals(h, hash(base), "the same content gives the same hash, whatever its mtime");
    }

    @Test
    void onlyQ35WithTheSerialChannelAndOneNicCanStartFromATemplate() throws IOException {
        assertTrue(TemplateShape.unsupported(spec(1, "q35", VmSpec.AgentChannel.SERIAL)).isEmpty());
        assertTrue(TemplateShape.unsupported(spec(1, "microvm", VmSpec.AgentChannel.SERIAL)).orElseThrow()
                .contains("template needs a q35 machine, not microvm"));
        assertTrue(TemplateShape.unsupported(spec(1, "q35", VmSpec.AgentChannel.HYBRID_VSOCK)).orElseThrow()
                .contains("serial agent channel, not HYBRID_VSOCK"));
        VmSpec twoNics = spec(1, "q35", VmSpec.AgentChannel.SERIAL).withNetwork(Path.of("/n"), List.of(
                new VmSpec.Nic("net0", "tap0_jk", "02:42:ac:11:00:02"), new VmSpec.Nic("net1", "tap1_jk", "02:42:ac:11:00:03")));
        assertTrue(TemplateShape.unsupported(twoNics).orElseThrow().contains("at most 1 NIC"));
    }
}
