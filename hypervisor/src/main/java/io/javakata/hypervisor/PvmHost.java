package io.javakata.hypervisor;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Whether this host's KVM is PVM. PVM (Pagetable-based Virtual Machine, https://lwn.net/Articles/963718/) is a KVM
 * module, {@code kvm_pvm}, that runs guests without hardware virtualisation, and only guest kernels built for it. On
 * a PVM host {@code /dev/kvm} opens, and with some host kernels QEMU even starts with {@code -accel kvm} and
 * {@code query-kvm} reports it enabled, yet a stock guest kernel never boots: PVM runs only guest kernels built for it,
 * whose kernel runs in ring 3 with paravirtual operations (LWN, above). javakata's guest kernel is a stock one, so a
 * PVM-only KVM counts as unusable for it.
 *
 * <p>Stateless; each call looks for three directories under {@code /sys/module}.
 */
public final class PvmHost {

    /** Where the loaded kernel modules show. */
    public static final Path SYS_MODULE = Path.of("/sys/module");

    private PvmHost() {
    }

    /** {@link #check(Path)} on this host. */
    public static Optional<String> check() {
        return check(SYS_MODULE);
    }

    /**
     * A sentence saying why KVM cannot run a stock guest kernel when the only KVM module loaded is {@code kvm_pvm}
     * (none of {@code kvm_intel}, {@code kvm_amd}), else empty.
     *
     * @param sysModule {@code /sys/module}, or a stand-in for a test
     */
    public static Optional<String> check(Path sysModule) {
        boolean pvmOnly = Files.isDirectory(sysModule.resolve("kvm_pvm"))
                && !Files.isDirectory(sysModule.resolve("kvm_intel"))
                && !Files.isDirectory(sysModule.resolve("kvm_amd"));
        return pvmOnly
                ? Optional.of("this host's KVM is PVM (module kvm_pvm, no kvm_intel or kvm_amd): it runs only guest "
                        + "kernels built for PVM, and a stock guest kernel does not boot under it")
                : Optional.empty();
    }
}
