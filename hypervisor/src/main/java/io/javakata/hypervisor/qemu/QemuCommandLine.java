package io.javakata.hypervisor.qemu;

import io.javakata.hypervisor.Accelerator;
import io.javakata.hypervisor.VmSpec;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.OptionalLong;
import java.util.stream.Collectors;

/**
 * The whole QEMU command line for one VM, as an ordered list of {@link QemuFragment}s.
 *
 * @param binary    qemu-system-x86_64
 * @param network   the network namespace QEMU runs in
 * @param fragments the options, in order
 */
record QemuCommandLine(Path binary, Network network, List<QemuFragment> fragments) {

    /** util-linux nsenter: enters the namespace, then execs QEMU (no --fork, so the pid is kept). */
    static final String NSENTER = "/usr/bin/nsenter";
    /** util-linux unshare: makes a new namespace, then execs QEMU (no --fork, so the pid is kept). */
    static final String UNSHARE = "/usr/bin/unshare";

    /** Where QEMU's network namespace comes from. */
    sealed interface Network {
        /** The caller's (the host's): a cold-booted VM whose spec names no network namespace. */
        record Inherited() implements Network {
        }

        /** The pod's: QEMU opens the pod's taps by name while still root ({@code nsenter --net=<netns>}). */
        record Pod(Path netns) implements Network {
        }

        /**
         * A new one that holds nothing but a loopback device that stays down ({@code unshare --net}), for a clone and
         * a template VM: a clone is given the pod's taps as descriptors ({@link TapHandOver}), so it can reach no
         * network but the guest's NICs, neither the host's nor the pod's namespace with the pod's neighbours on the
         * CNI bridge; a template VM has no NIC, and keeps root while it boots.
         */
        record Own() implements Network {
        }
    }


    /** The guest kernel parameter that makes the agent listen on AF_VSOCK (and its port). */
    static final String AGENT_VSOCK_PORT_PARAM = "javakata.agent_vsock_port";

    /** Root ports created on q35 for later hotplug (network, block). */
    static final int PCIE_ROOT_PORTS = 2;

    private static final System.Logger LOG = System.getLogger(QemuCommandLine.class.getName());

    QemuCommandLine {
        fragments = List.copyOf(fragments);
    }

    /**
     * The command line for {@code spec}.
     *
     * @param accelerator KVM or TCG, already chosen
     * @param vsockCid    the guest's context id when the spec's agent channel is VSOCK
     * @param hostTscKhz  the host's TSC frequency, passed to a microvm guest under TCG (see
     *                    {@link HostTsc}); ignored otherwise
     */
    static QemuCommandLine of(VmSpec spec, Accelerator accelerator, OptionalLong vsockCid, OptionalLong hostTscKhz) {
        return of(spec, accelerator, vsockCid, hostTscKhz, new Launch.Cold());
    }

    /**
     * Kernel parameters of a template VM, and of its clones for the same command line (a clone restores its template's
     * running kernel and boots none). {@code init_on_free=1}: the guest's kernel zeroes every page it frees (Linux
     * {@code Documentation/admin-guide/kernel-parameters.txt}, "init_on_free"). The pages the template's guest used
     * during its boot and freed then hold zeroes when it is saved, and the sparse copies of its memory
     * ({@code cp --sparse=always} makes a hole of every zero block) leave them out: the template's file and each
     * clone's RAM start with only the pages in use. Not for a cold boot: at boot the kernel zeroes all the memory it
     * hands to its page allocator, so the VMM would hold the whole of a cold VM's RAM until free page reporting
     * returns it. A template VM's RAM is a memfd (see {@link QemuHypervisor#template}), not a file on the state
     * directory's tmpfs, whose size limit that moment would exceed.
     */
    static final String TEMPLATE_KERNEL_PARAMS = "init_on_free=1";

    /**
     * How QEMU starts: a cold boot; a VM template (guest RAM in {@code memoryFile}, and no pod device: the caller
     * passes a spec without share or NIC); or a clone of a template (its RAM a copy of the template's memory file in
     * a memfd, waiting for the template's state, with the share's host backend open, a second QMP monitor for its
     * NICs' taps, and the devices left to be hot-plugged after the restore). A template and its clones run in network
     * namespaces of their own ({@link Network.Own}) and get the same devices in the same order: a migration stream
     * restores only into the machine it was saved from.
     */
    sealed interface Launch {
        record Cold() implements Launch {
        }

        record Template(Path memoryFile) implements Launch {
        }

        /** @param kernel the template's {@link KernelBootHeader}, or the spec's kernel when it has none */
        record Clone(Path memoryFile, Path kernel) implements Launch {
        }
    }

    static QemuCommandLine of(VmSpec spec, Accelerator accelerator, OptionalLong vsockCid, OptionalLong hostTscKhz,
                              Launch launch) {
        MachineType machine = MachineType.of(spec.machine());
        VmPaths paths = new VmPaths(spec.stateDir());
        List<QemuFragment> fragments = new ArrayList<>();
        fragments.add(new QemuFragment.Base());
        fragments.add(new QemuFragment.Seccomp(!spec.runAs().isEmpty()));
        if (!spec.runAs().isEmpty()) {
            fragments.add(new QemuFragment.RunAs(spec.runAs()));
        }
        fragments.add(new QemuFragment.Machine(machine));
        fragments.add(new QemuFragment.Accel(accelerator, spec.vcpus()));
        VmSpec.AgentImage image = spec.agentImage();
        fragments.add(new QemuFragment.Memory(spec.memoryMiB(), switch (launch) {
            case Launch.Cold cold -> null;
            case Launch.Template template -> template.memoryFile();
            case Launch.Clone clone -> clone.memoryFile();
        }, image != null && machine == MachineType.Q35 ? image.mebibytes() : 0));
        fragments.add(new QemuFragment.Smp(spec.vcpus()));
        String driverParams = VmSpec.BASE_KERNEL_PARAMS;
        if (!(launch instanceof Launch.Cold)) {
            driverParams += " " + TEMPLATE_KERNEL_PARAMS;
        }
        if (machine == MachineType.MICROVM && accelerator == Accelerator.TCG && hostTscKhz.isPresent()) {
            driverParams += " tsc_early_khz=" + hostTscKhz.getAsLong();
        }
        if (spec.agentChannel() != VmSpec.AgentChannel.SERIAL) {
            // The agent listens on AF_VSOCK only when told so (guest io.javakata.guest.rpc.AgentChannelParam).
            driverParams += " " + AGENT_VSOCK_PORT_PARAM + "=" + QemuHypervisor.VSOCK_AGENT_PORT;
        }
        fragments.add(new QemuFragment.Boot(launch instanceof Launch.Clone c ? c.kernel() : spec.kernel(), spec.initrd(),
                kernelParams(driverParams, machine, spec.kernelParams())));
        fragments.add(new QemuFragment.Console(paths.consoleSocket()));
        fragments.add(new QemuFragment.Qmp(paths.qmpSocket()));
        boolean clone = launch instanceof Launch.Clone;
        if (clone) {
            // The monitor a clone's taps are handed over on, at its restore or later (a spare VM a pod takes).
            fragments.add(new QemuFragment.Qmp(paths.tapQmpSocket()));
        }
        fragments.add(new QemuFragment.FreePageReporting(machine));
        if (image != null) {
            fragments.add(new QemuFragment.AgentImage(machine, image.file(), image.bytes()));
        }
        switch (spec.agentChannel()) {
            case SERIAL -> fragments.add(new QemuFragment.AgentSerial(machine, paths.agentSocket(),
                    QemuHypervisor.AGENT_PORT_NAME));
            case VSOCK -> fragments.add(new QemuFragment.Vsock(machine, vsockCid.orElseThrow(
                    () -> new IllegalArgumentException("agentChannel=VSOCK needs a guest cid"))));
            case HYBRID_VSOCK -> fragments.add(new QemuFragment.VhostUserVsock(machine, paths.vsockBackendSocket()));
        }
        if (spec.debugConsole()) {
            fragments.add(new QemuFragment.DebugConsole(machine, paths.debugConsoleSocket(),
                    QemuHypervisor.DEBUG_CONSOLE_PORT_NAME));
        }
        if (spec.sharedFs() != null) {
            fragments.add(clone ? new QemuFragment.VirtiofsBackend(paths.virtiofsdSocket())
                    : new QemuFragment.Virtiofs(machine, paths.virtiofsdSocket(), spec.sharedFs().tag()));
        }
        if (!clone) {
            for (VmSpec.Nic nic : spec.nics()) {
                fragments.add(new QemuFragment.Nic(machine, nic.id(), nic.tap(), nic.mac().toLowerCase(Locale.ROOT)));
            }
        }
        if (machine == MachineType.Q35) {
            fragments.add(new QemuFragment.PcieRootPorts(PCIE_ROOT_PORTS));
        }
        if (clone) {
            fragments.add(new QemuFragment.Incoming());
        }
        Network network;
        if (!(launch instanceof Launch.Cold)) {
            network = new Network.Own();
        } else if (spec.netns() != null) {
            network = new Network.Pod(spec.netns());
        } else {
            network = new Network.Inherited();
        }
        return new QemuCommandLine(spec.vmmBinary(), network, fragments);
    }

    /**
     * The driver's parameters then the spec's. On microvm, {@code quiet} is dropped: with the Debian
     * kernel it hung 6 of 8 microvm boots with no output at all (measured under TCG on QEMU 7.2 with Debian 12's
     * cloud kernel).
     */
    static String kernelParams(String driverParams, MachineType machine, String specParams) {
        List<String> extra = specParams.isBlank() ? List.of() : Arrays.asList(specParams.split("\\s+"));
        if (machine == MachineType.MICROVM && extra.contains("quiet")) {
            LOG.log(System.Logger.Level.WARNING, "dropping kernel parameter 'quiet': it hangs microvm boots");
            extra = extra.stream().filter(p -> !p.equals("quiet")).toList();
        }
        return extra.isEmpty() ? driverParams : driverParams + " " + String.join(" ", extra);
    }

    /** The argv for ProcessBuilder. */
    List<String> argv() {
        List<String> argv = new ArrayList<>(prefix());
        argv.add(binary.toString());
        fragments.forEach(fragment -> argv.addAll(fragment.args()));
        return argv;
    }

    /** One fragment per line, arguments with spaces single-quoted: for logs and golden files. */
    String render() {
        StringBuilder text = new StringBuilder();
        prefix().forEach(arg -> text.append(quote(arg)).append(' '));
        text.append(binary).append('\n');
        for (QemuFragment fragment : fragments) {
            text.append("  ").append(fragment.args().stream().map(QemuCommandLine::quote)
                    .collect(Collectors.joining(" "))).append('\n');
        }
        return text.toString();
    }

    private List<String> prefix() {
        return switch (network) {
            case Network.Inherited inherited -> List.of();
            case Network.Pod pod -> List.of(NSENTER, "--net=" + pod.netns());
            case Network.Own own -> List.of(UNSHARE, "--net");
        };
    }

    private static String quote(String arg) {
        return arg.isEmpty() || arg.matches(".*[\\s'\"].*") ? "'" + arg.replace("'", "'\\''") + "'" : arg;
    }
}
