package io.javakata.shim.sandbox;

import io.javakata.hypervisor.Hypervisor;
import io.javakata.hypervisor.VmSpec;
import io.javakata.hypervisor.ch.CloudHypervisor;
import io.javakata.hypervisor.qemu.QemuHypervisor;
import io.javakata.shim.agent.AgentDialer;
import io.javakata.shim.config.RuntimeConfig;
import io.javakata.shim.network.PodNetworks;
import java.util.Objects;
import java.util.function.Function;

/**
 * How a sandbox gets its VM and reaches its agent. {@link #forConfig} is the real thing; tests pass a
 * fake hypervisor and an in-memory dialer.
 *
 * @param hypervisors makes an (unstarted) hypervisor for a spec
 * @param dialer      connects to the agent endpoint the started hypervisor reports
 * @param networks    connects the VM to the pod's network namespace
 * @param templates   whether VMs may start from a VM template (the real QEMU launcher)
 */
public record VmLauncher(Function<VmSpec, Hypervisor> hypervisors, AgentDialer dialer, PodNetworks networks,
                         boolean templates) {

    public VmLauncher {
        Objects.requireNonNull(hypervisors, "hypervisors");
        Objects.requireNonNull(dialer, "dialer");
        Objects.requireNonNull(networks, "networks");
    }

    /** A launcher whose VMs get no network (fake VMs in tests). */
    public VmLauncher(Function<VmSpec, Hypervisor> hypervisors, AgentDialer dialer) {
        this(hypervisors, dialer, PodNetworks.none());
    }

    /** A launcher whose VMs never start from a VM template. */
    public VmLauncher(Function<VmSpec, Hypervisor> hypervisors, AgentDialer dialer, PodNetworks networks) {
        this(hypervisors, dialer, networks, false);
    }

    public static VmLauncher qemu() {
        return new VmLauncher(QemuHypervisor::new, AgentDialer.transports(), PodNetworks.host(), true);
    }

    /** The real launcher for the VMM {@code config} names ({@code hypervisor.type}). */
    public static VmLauncher forConfig(RuntimeConfig config) {
        return switch (config.hypervisor().type()) {
            case QEMU -> qemu();
            case CLOUD_HYPERVISOR -> new VmLauncher(CloudHypervisor::new, AgentDialer.transports(), PodNetworks.host());
        };
    }
}
