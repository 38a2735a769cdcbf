package io.javakata.hypervisor.qemu;

/** The QEMU machine types the driver supports, and how virtio devices are named on each. */
enum MachineType {
    /** PCI Express machine: virtio devices are "-pci", hotplug through pcie-root-ports. */
    Q35("q35"),
    /** Minimal machine: virtio-mmio devices ("-device" suffix), no hotplug at all. */
    MICROVM("microvm");

    private final String qemuName;

    MachineType(String qemuName) {
        this.qemuName = qemuName;
    }

    String qemuName() {
        return qemuName;
    }

    /** The device driver for a virtio family on this machine: virtio-serial → virtio-serial-pci. */
    String device(String family) {
        return this == Q35 ? family + "-pci" : family + "-device";
    }

    static MachineType of(String name) {
        for (MachineType type : values()) {
            if (type.qemuName.equals(name)) {
                return type;
            }
        }
        throw new IllegalArgumentException("machine=" + name + ": must be q35 or microvm");
    }
}
