package io.javakata.hypervisor.ch;

import io.javakata.hypervisor.PvmHost;

import java.io.File;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Objects;
import java.util.Optional;

/**
 * Whether this host can run Cloud Hypervisor, and why not: its binary, and KVM. Cloud Hypervisor has no
 * emulation fallback (it runs on KVM or Microsoft's MSHV only: cloud-hypervisor/cloud-hypervisor {@code README.md}),
 * so unlike the QEMU driver it cannot fall back to TCG.
 *
 * <p>KVM counts as usable when {@code /dev/kvm} exists and opens read-write, and the KVM behind it is not PVM. A
 * PVM host (the {@code kvm_pvm} module loaded, no {@code kvm_intel} or {@code kvm_amd}) offers a {@code /dev/kvm}
 * that runs only guest kernels built for PVM (https://lwn.net/Articles/963718/): a stock kernel does not boot
 * under it (QEMU aborts at vCPU reset on this project's machines), so it is reported as unusable. Opening the
 * device does not prove a guest boots; Cloud Hypervisor's own errors at {@code vm.boot} say the rest.
 *
 * <p>Stateless and thread-safe; each check reads a few files and opens {@code /dev/kvm} once.
 */
public final class CloudHypervisorHost {

    /** The executable's name, looked up on PATH when no path is configured. */
    public static final String BINARY_NAME = "cloud-hypervisor";

    static final Path DEV_KVM = Path.of("/dev/kvm");

    private CloudHypervisorHost() {
    }

    /**
     * Whether KVM is usable for Cloud Hypervisor.
     *
     * @param usable whether a VM can be created on it
     * @param reason a sentence saying what was found
     */
    public record Kvm(boolean usable, String reason) {
    }

    /**
     * Whether Cloud Hypervisor can run here.
     *
     * @param usable whether both the binary and KVM are usable
     * @param binary the executable found, if any
     * @param reason a sentence naming what is missing, or what was found
     */
    public record Availability(boolean usable, Optional<Path> binary, String reason) {
    }

    /**
     * Checks the binary ({@code configured}, else {@value #BINARY_NAME} on {@code $PATH}) and KVM.
     */
    public static Availability check(Optional<Path> configured) {
        return check(configured, System.getenv("PATH"), kvm());
    }

    static Availability check(Optional<Path> configured, String pathEnv, Kvm kvm) {
        Optional<Path> binary = findBinary(configured, pathEnv);
        String binaryText;
        if (binary.isPresent()) {
            binaryText = "binary " + binary.get();
        } else if (configured.isPresent()) {
            binaryText = "no executable " + configured.get() + " (the configured hypervisor.path)";
        } else {
            binaryText = "no " + BINARY_NAME + " on PATH (Debian does not package it; install a release binary and "
                    + "set hypervisor.path)";
        }
        boolean usable = binary.isPresent() && kvm.usable();
        return new Availability(usable, binary, binaryText + "; KVM " + (kvm.usable() ? "usable: " : "unusable: ")
                + kvm.reason());
    }

    /** {@code configured} if it is an executable file, else the first {@value #BINARY_NAME} on {@code pathEnv}. */
    public static Optional<Path> findBinary(Optional<Path> configured, String pathEnv) {
        Objects.requireNonNull(configured, "configured");
        if (configured.isPresent()) {
            Path path = configured.get();
            return Files.isRegularFile(path) && Files.isExecutable(path) ? configured : Optional.empty();
        }
        if (pathEnv == null || pathEnv.isEmpty()) {
            return Optional.empty();
        }
        for (String dir : pathEnv.split(File.pathSeparator)) {
            if (dir.isEmpty()) {
                continue;
            }
            Path candidate = Path.of(dir, BINARY_NAME);
            if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
                return Optional.of(candidate.toAbsolutePath());
            }
        }
        return Optional.empty();
    }

    /** This host's KVM as Cloud Hypervisor needs it. */
    public static Kvm kvm() {
        return kvm(DEV_KVM, PvmHost.SYS_MODULE);
    }

    /** As {@link #kvm()}, with the device and {@code /sys/module} as parameters so a test can point elsewhere. */
    static Kvm kvm(Path devKvm, Path sysModule) {
        Optional<String> pvm = PvmHost.check(sysModule);
        if (!Files.exists(devKvm)) {
            return new Kvm(false, "no " + devKvm + ": Cloud Hypervisor runs only on KVM (it has no emulation)."
                    + pvm.map(p -> " " + Character.toUpperCase(p.charAt(0)) + p.substring(1) + ".").orElse(""));
        }
        try (FileChannel _ = FileChannel.open(devKvm, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            // opening is the check
        } catch (IOException | UnsupportedOperationException e) {
            return new Kvm(false, "cannot open " + devKvm + " read-write: " + e.getMessage()
                    + "; Cloud Hypervisor runs only on KVM.");
        }
        if (pvm.isPresent()) {
            return new Kvm(false, devKvm + " opens, but " + pvm.get() + ".");
        }
        return new Kvm(true, devKvm + " opens read-write");
    }
}
