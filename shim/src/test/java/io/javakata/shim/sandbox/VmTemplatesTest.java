package io.javakata.shim.sandbox;

import io.javakata.hypervisor.Accelerator;
import io.javakata.hypervisor.VmSpec;
import io.javakata.shim.agent.AgentDialer;
import io.javakata.shim.config.RuntimeConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Why a pod cold-boots instead of starting from a VM template: the reason its INFO line names. */
@Timeout(10)
class VmTemplatesTest {

    private static final SandboxPaths PATHS = SandboxPaths.of(Path.of("/run/javakata"), "k8s.io", "pod1");
    private static final VmLauncher QEMU = VmLauncher.qemu();

    private static RuntimeConfig config(boolean enabled, RuntimeConfig.HypervisorType type,
                                        RuntimeConfig.Machine machine, VmSpec.AgentChannel transport) {
        var d = RuntimeConfig.defaults();
        var hv = d.hypervisor();
        return new RuntimeConfig(new RuntimeConfig.Hypervisor(type, hv.path(), hv.kernel(), hv.initrd(), hv.agentImage(), machine,
                Accelerator.AUTO, hv.vcpus(), hv.memoryMiB(), hv.kernelParams(), hv.bootTimeout(), hv.runAs(),
                hv.consoleLogMaxKiB(), hv.lockdown()), d.virtiofsd(), new RuntimeConfig.Agent(transport, Duration.ofSeconds(30), false),
                d.runtime(), new RuntimeConfig.Template(enabled, 2));
    }

    private static Optional<String> whyCold(RuntimeConfig config, VmLauncher launcher) {
        VmSpec vm = Sandbox.vmSpec(config, "pod1", PATHS, new SandboxSizing(1, 512));
        return VmTemplates.whyCold(config, launcher, vm);
    }

    @Test
    void aQ35PodWithTheSerialChannelOnQemuStartsFromATemplate() {
        assertEquals(Optional.empty(), whyCold(config(true, RuntimeConfig.HypervisorType.QEMU,
                RuntimeConfig.Machine.Q35, VmSpec.AgentChannel.SERIAL), QEMU));
    }

    @Test
    void everyOtherPodNamesWhyItColdBoots() {
        assertEquals("[template] enabled = false", whyCold(config(false, RuntimeConfig.HypervisorType.QEMU,
                RuntimeConfig.Machine.Q35, VmSpec.AgentChannel.SERIAL), QEMU).orElseThrow());
        assertEquals("template needs a q35 machine, not microvm (virtio-fs is hot-plugged after the restore, and "
                        + "microvm has no hotplug)", whyCold(config(true, RuntimeConfig.HypervisorType.QEMU,
                RuntimeConfig.Machine.MICROVM, VmSpec.AgentChannel.SERIAL), QEMU).orElseThrow());
        assertEquals("template needs the serial agent channel, not HYBRID_VSOCK (QEMU 7.2 cannot migrate vhost-user "
                        + "vsock, and a vhost-vsock guest keeps the template's CID)",
                whyCold(config(true, RuntimeConfig.HypervisorType.QEMU, RuntimeConfig.Machine.Q35,
                        VmSpec.AgentChannel.HYBRID_VSOCK), QEMU).orElseThrow());
        assertEquals("templates need QEMU, not cloud-hypervisor", whyCold(config(true,
                RuntimeConfig.HypervisorType.CLOUD_HYPERVISOR, RuntimeConfig.Machine.Q35, VmSpec.AgentChannel.SERIAL),
                QEMU).orElseThrow());
        VmLauncher fake = new VmLauncher(spec -> null, AgentDialer.transports());
        assertEquals("templates need QEMU, not qemu", whyCold(config(true, RuntimeConfig.HypervisorType.QEMU,
                RuntimeConfig.Machine.Q35, VmSpec.AgentChannel.SERIAL), fake).orElseThrow());
    }
}
