package io.javakata.hypervisor.qemu;

import java.nio.file.Path;
import java.util.Objects;

/**
 * A saved VM template: a VM booted to a ready agent, paused and saved (see docs/architecture.md "VM templates").
 *
 * @param dir {@code <state_dir>/templates/<key>/}: {@code state} (QEMU's migration stream without RAM, a few hundred
 *            KB), {@code memory} (the guest's RAM, a sparse file on tmpfs), {@code kernel-header} (the kernel's
 *            boot header its clones are given as their kernel: {@link KernelBootHeader}; absent for a kernel without
 *            one, or a template saved before it existed), {@code shape.txt} (its inputs)
 */
public record VmTemplate(Path dir) {

    public VmTemplate {
        Objects.requireNonNull(dir, "dir");
    }

    public Path state() {
        return dir.resolve("state");
    }

    public Path memory() {
        return dir.resolve("memory");
    }

    public Path kernelHeader() {
        return dir.resolve("kernel-header");
    }

    public Path shapeFile() {
        return dir.resolve("shape.txt");
    }
}
