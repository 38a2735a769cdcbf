package io.javakata.hypervisor.ch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Optional;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The host check: binary on PATH or configured, and KVM as Cloud Hypervisor needs it (PVM reported as such). */
@Timeout(10)
class CloudHypervisorHostTest {

    @TempDir
    Path dir;

    private Path executable(Path path) throws IOException {
        Files.createDirectories(path.getParent());
        Files.writeString(path, "#!/bin/sh\n");
        Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rwxr-xr-x"));
        return path;
    }

    @Test
    void theBinaryIsTheConfiguredOneOrTheFirstOnPath() throws IOException {
        Path second = executable(dir.resolve("b/cloud-hypervisor"));
        Files.createDirectories(dir.resolve("a"));
        String path = dir.resolve("a") + ":" + dir.resolve("b");
        assertEquals(Optional.of(second), CloudHypervisorHost.findBinary(Optional.empty(), path));
        assertEquals(Optional.empty(), CloudHypervisorHost.findBinary(Optional.of(dir.resolve("nope")), path));
        assertEquals(Optional.empty(), CloudHypervisorHost.findBinary(Optional.empty(), dir.resolve("a").toString()));
    }

    @Test
    void noDeviceOnAPvmHostSaysBoth() throws IOException {
        Path modules = dir.resolve("module");
        Files.createDirectories(modules.resolve("kvm"));
        Files.createDirectories(modules.resolve("kvm_pvm"));
        CloudHypervisorHost.Kvm kvm = CloudHypervisorHost.kvm(dir.resolve("kvm"), modules);
        assertFalse(kvm.usable());
        assertEquals("no " + dir.resolve("kvm") + ": Cloud Hypervisor runs only on KVM (it has no emulation). This "
                + "host's KVM is PVM (module kvm_pvm, no kvm_intel or kvm_amd): it runs only guest kernels built for "
                + "PVM, and a stock guest kernel does not boot under it.", kvm.reason());
    }

    @Test
    void aDeviceThatOpensOnAPvmHostIsStillUnusable() throws IOException {
        Path modules = dir.resolve("module");
        Files.createDirectories(modules.resolve("kvm_pvm"));
        Path device = Files.createFile(dir.resolve("kvm"));
        CloudHypervisorHost.Kvm kvm = CloudHypervisorHost.kvm(device, modules);
        assertFalse(kvm.usable());
        assertTrue(kvm.reason().startsWith(device + " opens, but this host's KVM is PVM"), kvm.reason());
    }

    @Test
    void aDeviceThatOpensWithIntelKvmIsUsable() throws IOException {
        Path modules = dir.resolve("module");
        Files.createDirectories(modules.resolve("kvm_intel"));
        Files.createDirectories(modules.resolve("kvm_pvm"));
        Path device = Files.createFile(dir.resolve("kvm"));
        assertEquals(new CloudHypervisorHost.Kvm(true, device + " opens read-write"),
                CloudHypervisorHost.kvm(device, modules));
    }

    @Test
    void availabilityNamesWhatIsMissing() throws IOException {
        CloudHypervisorHost.Kvm noKvm = new CloudHypervisorHost.Kvm(false, "no /dev/kvm.");
        CloudHypervisorHost.Availability none = CloudHypervisorHost.check(Optional.empty(), "", noKvm);
        assertFalse(none.usable());
        assertEquals("no cloud-hypervisor on PATH (Debian does not package it; install a release binary and set "
                + "hypervisor.path); KVM unusable: no /dev/kvm.", none.reason());
        Path binary = executable(dir.resolve("cloud-hypervisor"));
        CloudHypervisorHost.Availability ok = CloudHypervisorHost.check(Optional.of(binary), "",
                new CloudHypervisorHost.Kvm(true, "/dev/kvm opens read-write"));
        assertTrue(ok.usable());
        assertEquals(Optional.of(binary), ok.binary());
    }

    @Test
    void thisHostGetsAnAnswerWithAReason() {
        CloudHypervisorHost.Availability here = CloudHypervisorHost.check(Optional.empty());
        assertFalse(here.reason().isBlank());
    }
}
