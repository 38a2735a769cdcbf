package io.javakata.shim.sandbox;

import io.javakata.hypervisor.Accelerator;
import io.javakata.hypervisor.VmSpec;
import io.javakata.shim.config.RuntimeConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Whatever the configuration loader accepts, {@link Sandbox#vmSpec} makes a VmSpec of: nothing fails at pod start. */
@Timeout(10)
class SandboxVmSpecTest {

    private static final SandboxPaths PATHS = SandboxPaths.of(Path.of("/run/javakata"), "k8s.io", "pod1");

    private static RuntimeConfig config(RuntimeConfig.Machine machine, Accelerator accel,
                                        RuntimeConfig.VirtiofsCache cache, VmSpec.AgentChannel transport,
                                        int consoleKiB) {
        var d = RuntimeConfig.defaults();
        var hv = d.hypervisor();
        return new RuntimeConfig(new RuntimeConfig.Hypervisor(hv.type(), hv.path(), hv.kernel(), hv.initrd(), hv.agentImage(), machine,
                accel, hv.vcpus(), hv.memoryMiB(), hv.kernelParams(), hv.bootTimeout(), hv.runAs(), consoleKiB,
                hv.lockdown()),
                new RuntimeConfig.Virtiofsd(d.virtiofsd().path(), cache),
                new RuntimeConfig.Agent(transport, Duration.ofSeconds(30), false), d.runtime());
    }

    @Test
    void everyEnumValueMakesAVmSpec() {
        for (RuntimeConfig.Machine machine : RuntimeConfig.Machine.values()) {
            for (Accelerator accel : Accelerator.values()) {
                for (RuntimeConfig.VirtiofsCache cache : RuntimeConfig.VirtiofsCache.values()) {
                    for (VmSpec.AgentChannel transport : VmSpec.AgentChannel.values()) {
                        VmSpec spec = Sandbox.vmSpec(config(machine, accel, cache, transport, 1024), "pod1", PATHS,
                                new SandboxSizing(2, 512));
                        assertEquals(RuntimeConfig.tomlName(machine), spec.machine());
                        assertEquals(accel, spec.accelerator());
                        assertEquals(RuntimeConfig.tomlName(cache), spec.sharedFs().cache());
                        assertEquals(transport, spec.agentChannel());
                    }
                }
            }
        }
    }

    @Test
    void theLimitsTheLoaderAcceptsMakeAVmSpec() {
        var d = RuntimeConfig.defaults();
        for (long bytes : new long[] {VmSpec.MIN_CONSOLE_LOG_BYTES, VmSpec.MAX_CONSOLE_LOG_BYTES}) {
            int kib = (int) (bytes / 1024);
            RuntimeConfig c = config(RuntimeConfig.Machine.Q35, Accelerator.AUTO, RuntimeConfig.VirtiofsCache.AUTO,
                    VmSpec.AgentChannel.SERIAL, kib);
            assertEquals(bytes, Sandbox.vmSpec(c, "pod1", PATHS, new SandboxSizing(1, 512)).consoleLogMaxBytes());
        }
        VmSpec least = Sandbox.vmSpec(d, "pod1", PATHS, new SandboxSizing(VmSpec.MIN_VCPUS, VmSpec.MIN_MEMORY_MIB));
        assertEquals(VmSpec.MIN_MEMORY_MIB, least.memoryMiB());
        VmSpec most = Sandbox.vmSpec(d, "pod1", PATHS, new SandboxSizing(VmSpec.MAX_VCPUS, VmSpec.MAX_MEMORY_MIB));
        assertEquals(VmSpec.MAX_VCPUS, most.vcpus());
    }

    @Test
    void theGuestKernelGetsTheLockdownLevelBeforeTheConfiguredParameters() {
        var d = RuntimeConfig.defaults();
        var hv = d.hypervisor();
        var tracing = new RuntimeConfig(new RuntimeConfig.Hypervisor(hv.type(), hv.path(), hv.kernel(), hv.initrd(),
                hv.agentImage(), hv.machine(), hv.accel(), hv.vcpus(), hv.memoryMiB(), "quiet", hv.bootTimeout(),
                hv.runAs(), hv.consoleLogMaxKiB(), RuntimeConfig.GuestLockdown.NONE), d.virtiofsd(), d.agent(),
                d.runtime());
        assertEquals("lockdown=confidentiality", Sandbox.vmSpec(d, "pod1", PATHS, new SandboxSizing(1, 512))
                .kernelParams());
        assertEquals("quiet", Sandbox.vmSpec(tracing, "pod1", PATHS, new SandboxSizing(1, 512)).kernelParams());
    }
}
