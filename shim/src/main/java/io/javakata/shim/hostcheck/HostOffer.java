package io.javakata.shim.hostcheck;

import io.javakata.hypervisor.VmSpec;
import io.javakata.shim.config.RuntimeConfig;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Which VMMs and agent transports this host can use, whatever the configuration picks: two lines of {@code check}
 * ({@code vmms}, {@code transports}), each entry "name: usable" or "name: not usable (why)". Reads the host through a
 * {@link HostView}, so tests give it a directory of fixtures. Stateless.
 */
final class HostOffer {

    /** Where a Cloud Hypervisor binary is looked for (it is not packaged by Debian: a manual install). */
    static final List<String> CLOUD_HYPERVISOR_PATHS = List.of("/usr/local/bin/cloud-hypervisor",
            "/usr/bin/cloud-hypervisor");

    /** One VMM or transport: usable or not, and why not. */
    record Option(String name, boolean usable, String why) {
        @Override
        public String toString() {
            return name + ": " + (usable ? "usable" : "not usable (" + why + ")");
        }
    }

    private HostOffer() {
    }

    /**
     * The VMMs: QEMU (its binary answers {@code --version}; TCG makes it usable without KVM) and Cloud Hypervisor
     * (a binary in {@link #CLOUD_HYPERVISOR_PATHS}, and KVM, which it cannot run without).
     *
     * @param qemu      the qemu finding of the same check
     * @param kvmUsable whether the KVM probe gave KVM
     */
    static List<Option> vmms(HostView host, Finding qemu, boolean kvmUsable) {
        Option qemuOption = new Option("qemu", qemu.verdict() != Verdict.FAIL, qemu.detail());
        String ch = CLOUD_HYPERVISOR_PATHS.stream().filter(p -> Files.isExecutable(host.path(p))).findFirst()
                .orElse(null);
        Option chOption = ch == null
                ? new Option("cloud-hypervisor", false, "no binary at " + String.join(" or ", CLOUD_HYPERVISOR_PATHS)
                + (kvmUsable ? "" : "; KVM is unusable too"))
                : new Option("cloud-hypervisor", kvmUsable, ch + " found, but KVM is unusable");
        return List.of(qemuOption, chOption);
    }

    /**
     * The agent transports: virtio-serial always; vsock with the host's {@code /dev/vhost-vsock}; hybrid vsock under
     * QEMU with the vhost-device-vsock binary the configuration names.
     */
    static List<Option> transports(HostView host, RuntimeConfig config) {
        Path backend = config.agent().vhostDeviceVsock();
        return List.of(
                new Option(name(VmSpec.AgentChannel.SERIAL), true, ""),
                new Option(name(VmSpec.AgentChannel.VSOCK), host.exists("/dev/vhost-vsock"),
                        "no /dev/vhost-vsock: the vhost_vsock module is not loaded or not available"),
                new Option(name(VmSpec.AgentChannel.HYBRID_VSOCK), Files.isExecutable(host.path(backend.toString())),
                        "no executable " + backend + " (agent.vhost_device_vsock; make install puts it there)"));
    }

    /** The {@code vmms} finding: OK, a list. */
    static Finding vmmsFinding(List<Option> vmms) {
        return Finding.ok("vmms", join(vmms));
    }

    /**
     * The {@code transports} finding: FAIL when the configured transport is not usable.
     *
     * @param channel what {@code configured} gives here (itself, or AUTO's pick)
     */
    static Finding transportsFinding(List<Option> transports, RuntimeConfig.Transport configured,
                                     VmSpec.AgentChannel channel) {
        String text = join(transports) + "; agent.transport = \"" + RuntimeConfig.tomlName(configured) + "\""
                + (configured == RuntimeConfig.Transport.AUTO ? " picks " + name(channel) : "");
        boolean usable = transports.stream().filter(t -> t.name().equals(name(channel))).allMatch(Option::usable);
        return usable ? Finding.ok("transports", text) : Finding.fail("transports", text
                + " is not usable here: pods cannot start (set agent.transport to a usable one)");
    }

    private static String name(VmSpec.AgentChannel channel) {
        return RuntimeConfig.tomlName(channel);
    }

    private static String join(List<Option> options) {
        return options.stream().map(Option::toString).collect(Collectors.joining("; "));
    }
}
