package io.javakata.shim.sandbox;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import io.javakata.hypervisor.Accelerator;
import io.javakata.hypervisor.VmSpec;
import io.javakata.hypervisor.ch.CloudHypervisor;
import io.javakata.hypervisor.qemu.QemuHypervisor;
import io.javakata.shim.config.RuntimeConfig;

import java.nio.file.Path;
import java.time.Duration;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** hypervisor.type picks the driver. */
@Timeout(10)
class VmLauncherTest {

    private static final VmSpec SPEC = new VmSpec("p", Path.of("/run/x"), Path.of("/bin/vmm"), Path.of("/k"),
            Path.of("/i"), "", 1, 256, Accelerator.AUTO, "q35", null, VmSpec.AgentChannel.SERIAL, Duration.ofSeconds(5));

    private static RuntimeConfig withType(RuntimeConfig.HypervisorType type) {
        RuntimeConfig d = RuntimeConfig.defaults();
        RuntimeConfig.Hypervisor h = d.hypervisor();
        return new RuntimeConfig(new RuntimeConfig.Hypervisor(type, h.path(), h.kernel(), h.initrd(), h.agentImage(), h.machine(),
                h.accel(), h.vcpus(), h.memoryMiB(), h.kernelParams(), h.bootTimeout(), h.runAs(), h.consoleLogMaxKiB(),
                h.lockdown()),
                d.virtiofsd(), d.agent(), d.runtime());
    }

    @Test
    void eachTypeGetsItsDriver() {
        assertInstanceOf(QemuHypervisor.class,
                VmLauncher.forConfig(withType(RuntimeConfig.HypervisorType.QEMU)).hypervisors().apply(SPEC));
        assertInstanceOf(CloudHypervisor.class,
                VmLauncher.forConfig(withType(RuntimeConfig.HypervisorType.CLOUD_HYPERVISOR)).hypervisors().apply(SPEC));
    }
}
