package io.javakata.shim.hostcheck;

import io.javakata.hypervisor.Accelerator;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Whether VMs get KVM, from the hypervisor's own probe (io.javakata.hypervisor.qemu.KvmProbe: QEMU really started
 * with {@code -accel kvm}: an openable /dev/kvm is not enough, QEMU manual, {@code -accel}), with what the host shows
 * about why not.
 */
final class KvmCheck {

    /** Runs the KVM probe for {@code accel = "auto"}: the accelerator a VM would get, and why. */
    @FunctionalInterface
    interface Prober {
        Accelerator.Choice probe(Path qemu, String machine) throws IOException;
    }

    private KvmCheck() {
    }

    static Finding check(Accelerator accel, Path qemu, String machine, Prober prober, HostView host) {
        Accelerator.Choice choice;
        try {
            choice = prober.probe(qemu, machine);
        } catch (IOException e) {
            return Finding.fail("kvm", "the KVM probe failed: " + e.getMessage());
        }
        boolean usable = choice.accelerator() == Accelerator.KVM;
        String reason = usable ? choice.reason() : choice.reason() + context(host);
        return switch (accel) {
            case TCG -> Finding.ok("kvm", "hypervisor.accel = tcg: VMs use TCG; KVM " + (usable ? "would be usable: "
                    : "is unusable anyway: ") + reason);
            case KVM -> usable ? Finding.ok("kvm", "KVM is usable: " + reason)
                    : Finding.fail("kvm", "hypervisor.accel = kvm but KVM is unusable: " + reason
                    + "; set accel = \"auto\" to fall back to TCG");
            case AUTO -> usable ? Finding.ok("kvm", "KVM is usable: " + reason)
                    : Finding.fallback("kvm", "KVM is unusable: " + reason
                    + "; fallback: TCG, software emulation (boots and CPU-bound work several times slower)");
        };
    }

    /**
     * What the host's CPU shows about why KVM is unusable, as "; …" or "". A PVM host is not told here: the probe
     * refuses its KVM and names the reason itself (io.javakata.hypervisor.PvmHost).
     */
    static String context(HostView host) {
        List<String> notes = new ArrayList<>();
        String flags = host.read("/proc/cpuinfo").flatMap(c -> c.lines().filter(l -> l.startsWith("flags"))
                .findFirst()).orElse("");
        if (!flags.isEmpty() && !flags.matches(".*\\b(vmx|svm)\\b.*")) {
            notes.add("the CPU offers no vmx/svm" + (flags.matches(".*\\bhypervisor\\b.*")
                    ? " (this host is itself a VM without nested virtualization)" : ""));
        }
        return notes.isEmpty() ? "" : "; " + String.join("; ", notes);
    }
}
