package io.javakata.shim.sandbox;

import io.javakata.hypervisor.Hypervisor;
import io.javakata.hypervisor.VmSpec;
import io.javakata.hypervisor.qemu.QemuHypervisor;
import io.javakata.shim.agent.AgentDialer;
import java.util.Objects;
import java.util.function.Function;

/**
 * How a sandbox gets its VM and reaches its agent. {@link #qemu()} is the real thing; tests pass a
 * fake hypervisor and an in-memory dialer.
 *
 * @param hypervisors makes an (unstarted) hypervisor for a spec
 * @param dialer      connects to the agent endpoint the started hypervisor reports
 */
public record VmLauncher(Function<VmSpec, Hypervisor> hypervisors, AgentDialer dialer) {

    public VmLauncher {
        Objects.requireNonNull(hypervisors, "hypervisors");
        Objects.requireNonNull(dialer, "dialer");
    }

    public static VmLauncher qemu() {
        return new VmLauncher(QemuHypervisor::new, AgentDialer.transports());
    }
}
