package io.javakata.shim.hostcheck;

import io.javakata.hypervisor.Accelerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(5)
class KvmCheckTest {

    static final Path QEMU = Path.of("/usr/bin/qemu-system-x86_64");

    @TempDir
    Path root;

    private static KvmCheck.Prober answers(Accelerator accelerator, String reason) {
        return (qemu, machine) -> new Accelerator.Choice(accelerator, reason);
    }

    @ParameterizedTest
    @CsvSource({
            "AUTO, KVM, OK",
            "AUTO, TCG, FALLBACK",
            "KVM,  KVM, OK",
            "KVM,  TCG, FAIL",
            "TCG,  KVM, OK",
            "TCG,  TCG, OK"})
    void verdictFollowsTheConfiguredAcceleratorAndTheProbe(Accelerator accel, Accelerator probed, Verdict verdict) {
        Finding f = KvmCheck.check(accel, QEMU, "q35", answers(probed, "probe says so"), new HostView(root));
        assertEquals(verdict, f.verdict(), f.detail());
        assertTrue(f.detail().contains("probe says so"), f.detail());
    }

    @Test
    void aVmWithoutNestedVirtualizationSaysSo() throws Exception {
        Files.createDirectories(root.resolve("proc"));
        Files.writeString(root.resolve("proc/cpuinfo"), "processor\t: 0\nflags\t\t: fpu vme sse2 hypervisor lahf_lm\n");
        Finding f = KvmCheck.check(Accelerator.AUTO, QEMU, "q35", answers(Accelerator.TCG, "no /dev/kvm"), new HostView(root));
        assertEquals(Verdict.FALLBACK, f.verdict());
        assertEquals("KVM is unusable: no /dev/kvm; the CPU offers no vmx/svm (this host is itself a VM without nested "
                + "virtualization); fallback: TCG, software emulation (boots and CPU-bound work several times slower)",
                f.detail());
    }

    @Test
    void aPvmHostIsToldOnceByTheProbe() throws Exception {
        Files.createDirectories(root.resolve("sys/module/kvm_pvm"));
        String pvm = "this host's KVM is PVM (module kvm_pvm, no kvm_intel or kvm_amd): it runs only guest kernels "
                + "built for PVM, and a stock guest kernel does not boot under it";
        Finding f = KvmCheck.check(Accelerator.AUTO, QEMU, "q35", answers(Accelerator.TCG, pvm), new HostView(root));
        assertEquals(Verdict.FALLBACK, f.verdict());
        assertEquals("KVM is unusable: " + pvm + "; fallback: TCG, software emulation (boots and CPU-bound work "
                + "several times slower)", f.detail());
    }

    @Test
    void aCpuWithVmxAddsNoNote() throws Exception {
        Files.createDirectories(root.resolve("proc"));
        Files.writeString(root.resolve("proc/cpuinfo"), "flags\t\t: fpu vmx sse2\n");
        assertEquals("", KvmCheck.context(new HostView(root)));
    }

    @Test
    void aProbeThatFailsIsAFailure() {
        Finding f = KvmCheck.check(Accelerator.KVM, QEMU, "q35", (qemu, machine) -> {
            throw new IOException("KVM is unusable on this host: no /dev/kvm");
        }, new HostView(root));
        assertEquals(Verdict.FAIL, f.verdict());
        assertEquals("the KVM probe failed: KVM is unusable on this host: no /dev/kvm", f.detail());
    }
}
