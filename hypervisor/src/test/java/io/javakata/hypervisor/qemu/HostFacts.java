package io.javakata.hypervisor.qemu;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * What this host offers, found without the code under test, so a test can assert the verdict that is right
 * for the host it runs on (a KVM host, where users run javakata, or a TCG-only one like the project's CI).
 */
final class HostFacts {

    private static final long QEMU_DEADLINE_SECONDS = 30;
    private static Boolean qemuStartsKvm;

    private HostFacts() {
    }

    /**
     * Whether QEMU runs a q35 machine under KVM here: it is started with {@code -accel kvm -cpu host -S} and
     * asked {@code info kvm} on its human monitor (QEMU manual, "info kvm"). A host where KVM initialises
     * but QEMU aborts at vCPU reset never answers, so it counts as no KVM, as the probe must find. So does a PVM host
     * (kvm_pvm the only KVM module in /sys/module), whose KVM QEMU may start on but where a stock guest kernel hangs.
     */
    static boolean kvmUsable(Path qemu) throws IOException, InterruptedException {
        Path modules = Path.of("/sys/module");
        boolean pvmOnly = Files.isDirectory(modules.resolve("kvm_pvm"))
                && !Files.isDirectory(modules.resolve("kvm_intel"))
                && !Files.isDirectory(modules.resolve("kvm_amd"));
        return !pvmOnly && qemuStartsKvm(qemu);
    }

    /** Whether QEMU starts a q35 machine with KVM enabled here, whatever the KVM (PVM or not). */
    static synchronized boolean qemuStartsKvm(Path qemu) throws IOException, InterruptedException {
        if (qemuStartsKvm == null) {
            qemuStartsKvm = askQemuAboutKvm(qemu);
        }
        return qemuStartsKvm;
    }

    /** Whether the host has the vhost-vsock device QEMU's vhost-vsock-pci opens (QEMU manual, "vhost-vsock-pci"). */
    static boolean hasVhostVsock() {
        Path device = Path.of("/dev/vhost-vsock");
        return Files.isReadable(device) && Files.isWritable(device);
    }

    private static boolean askQemuAboutKvm(Path qemu) throws IOException, InterruptedException {
        Path output = Files.createTempFile("javakata-host-kvm-", ".log");
        try {
            Process process = new ProcessBuilder(qemu.toString(), "-accel", "kvm", "-cpu", "host", "-S",
                    "-M", "q35", "-nodefaults", "-display", "none", "-monitor", "stdio")
                    .redirectErrorStream(true)
                    .redirectOutput(output.toFile())
                    .start();
            try (var monitor = process.getOutputStream()) {
                monitor.write("info kvm\nquit\n".getBytes());
            } catch (IOException e) {
                // QEMU already exited (no KVM): its exit code and output say so below.
            }
            if (!process.waitFor(QEMU_DEADLINE_SECONDS, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new AssertionError("QEMU asked about KVM did not exit within " + QEMU_DEADLINE_SECONDS
                        + " s: " + Files.readString(output));
            }
            return process.exitValue() == 0 && Files.readString(output).contains("kvm support: enabled");
        } finally {
            Files.deleteIfExists(output);
        }
    }
}
