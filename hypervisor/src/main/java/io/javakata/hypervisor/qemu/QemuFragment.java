package io.javakata.hypervisor.qemu;

import io.javakata.hypervisor.Accelerator;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One piece of a QEMU 7.2 command line (the options of QEMU 7.2's manual, {@code docs/system/invocation},
 * and of {@code qemu-system-x86_64 -device help}). Each fragment knows only its own
 * options; {@link QemuCommandLine} puts them in order. Shaped after Kata's ToQemuParams.
 */
sealed interface QemuFragment {

    /** The chardev id of the virtiofs device's vhost-user socket. */
    String VIRTIOFS_CHARDEV = "vfs";
    int VIRTIOFS_QUEUE_SIZE = 1024;

    /** The arguments this fragment contributes, in order. */
    List<String> args();

    /**
     * No default devices or config files, no display, a guest reboot ends QEMU, and the vCPUs start
     * paused ({@code -S}): the driver sends QMP {@code cont} once QEMU has dropped root ({@link RunAs}
     * happens at the end of QEMU's initialisation, after it would otherwise already run the guest) and
     * the console reader is attached (a socket console with no reader drops what the guest writes).
     */
    record Base() implements QemuFragment {
        @Override
        public List<String> args() {
            return List.of("-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-S");
        }
    }

    /**
     * QEMU's seccomp filter (QEMU 7.2 {@code -sandbox}, qemu-options.hx): obsolete system calls, fork
     * and exec, and scheduler/priority changes are refused, and so are set*uid/set*gid when QEMU stays
     * root. With {@link RunAs} they must stay allowed: QEMU installs the filter while parsing its early
     * options and calls setgid/setgroups/setuid only at the end of its initialisation, so
     * {@code elevateprivileges=deny} kills it then (measured on 7.2: "Bad system call"). Once QEMU has
     * dropped to a non-root uid, the kernel itself refuses it any other uid (it holds no capability,
     * and QEMU sets no_new_privs; capabilities(7), "Effect of user ID changes on capabilities").
     *
     * @param droppingRoot whether QEMU will switch users itself ({@link RunAs})
     */
    record Seccomp(boolean droppingRoot) implements QemuFragment {
        @Override
        public List<String> args() {
            return List.of("-sandbox", "on,obsolete=deny,elevateprivileges=" + (droppingRoot ? "allow" : "deny")
                    + ",spawn=deny,resourcecontrol=deny");
        }
    }

    /**
     * QEMU opens everything it needs as root (tap, memfd, sockets, kernel, /dev/kvm), then switches to
     * {@code user}: its uid, its primary gid and its /etc/group groups (initgroups(3); the system user
     * make install creates has none), before the guest runs.
     */
    record RunAs(String user) implements QemuFragment {
        @Override
        public List<String> args() {
            return List.of("-runas", user);
        }
    }

    /**
     * The machine type. On microvm, vhost-user devices need modern virtio-mmio: without
     * force-legacy=false the C virtiofsd aborts ("virtio legacy devices aren't supported").
     */
    record Machine(MachineType type) implements QemuFragment {
        @Override
        public List<String> args() {
            return type == MachineType.Q35
                    ? List.of("-M", "q35")
                    : List.of("-M", "microvm", "-global", "virtio-mmio.force-legacy=false");
        }
    }

    /**
     * Accelerator and CPU model: KVM passes the host CPU through, TCG emulates the richest model. TCG's translation
     * buffer is capped at {@link #TCG_TB_MIB}: QEMU 7.2 reserves 1 GiB by default (an eighth of the host's RAM on
     * smaller hosts) and never reuses it before it is full, so an idle pod kept ~170 MiB of translated code resident
     * (QEMU v7.2.0 tcg/region.c, DEFAULT_CODE_GEN_BUFFER_SIZE_1 and size_code_gen_buffer;
     * qemu-options.hx, -accel tb-size; figures in docs/benchmarks.md "Footprint of an idle pod").
     */
    record Accel(Accelerator accelerator, int vcpus) implements QemuFragment {
        static final int TCG_TB_MIB = 64;

        @Override
        public List<String> args() {
            String tcg = "tcg," + (vcpus > 1 ? "thread=multi," : "") + "tb-size=" + TCG_TB_MIB;
            return switch (accelerator) {
                case KVM -> List.of("-accel", "kvm", "-cpu", "host");
                case TCG -> List.of("-accel", tcg, "-cpu", "max");
                case AUTO -> throw new IllegalArgumentException("accelerator=AUTO: resolve it to KVM or TCG first");
            };
        }
    }

    /**
     * Guest RAM shared with vhost-user devices (virtiofs), which map it: a memfd QEMU makes, or a file: a VM
     * template's in its build directory, whose contents are the RAM its clones restore (see {@link Incoming}), and a
     * clone's, the memfd its shim filled with a copy of that ({@code /proc/<shim pid>/fd/<fd>}, see
     * {@link CloneMemory}).
     * The backend's id, {@code mem}, names the RAM block in a migration stream; it must not change.
     *
     * @param file the memory file, or null for a memfd
     */
    record Memory(int mebibytes, Path file, long deviceMiB) implements QemuFragment {
        Memory(int mebibytes) {
            this(mebibytes, null, 0);
        }

        @Override
        public List<String> args() {
            String size = mebibytes + "M";
            String backend = file == null ? "memory-backend-memfd,id=mem,size=" + size + ",share=on"
                    : "memory-backend-file,id=mem,size=" + size + ",mem-path=" + file + ",share=on";
            // A memory device (the agent image's virtio-pmem) needs a slot and room above the RAM: maxmem - size.
            String m = deviceMiB == 0 ? size : size + ",slots=1,maxmem=" + (mebibytes + deviceMiB) + "M";
            return List.of("-m", m, "-object", backend, "-numa", "node,memdev=mem");
        }
    }

    /**
     * The agent image (VmSpec.AgentImage), read-only. q35: a virtio-pmem device on a shared, read-only file backend;
     * the guest maps it with DAX, and a template's migration skips it like the RAM (x-ignore-shared). microvm, which
     * has no memory devices: a read-only raw virtio-blk disk.
     */
    record AgentImage(MachineType machine, Path file, long bytes) implements QemuFragment {
        @Override
        public List<String> args() {
            if (machine == MachineType.MICROVM) {
                return List.of("-drive", "file=" + file + ",if=none,id=agentimg,format=raw,readonly=on",
                        "-device", machine.device("virtio-blk") + ",drive=agentimg");
            }
            return List.of("-object", "memory-backend-file,id=agentimg,mem-path=" + file + ",size=" + bytes
                            + ",share=on,readonly=on",
                    "-device", "virtio-pmem-pci,memdev=agentimg,id=agentimg-dev");
        }
    }

    /**
     * A clone of a VM template waits for its state ({@code -incoming defer}): the driver sets x-ignore-shared over
     * QMP (its RAM is the copy of the template's memory file, not in the stream) and then starts the restore from file descriptor
     * 0, the template's state file opened by the spawner (QEMU 7.2 has no {@code file:} migration URI, and spawns
     * nothing under its seccomp filter).
     */
    record Incoming() implements QemuFragment {
        @Override
        public List<String> args() {
            return List.of("-incoming", "defer");
        }
    }

    /**
     * The host side of a clone's virtio-fs device, connected to virtiofsd while QEMU is still root; the device
     * itself is hot-plugged after the restore ({@code vhost-user-fs} cannot be migrated). A chardev is not part
     * of the migration stream, so the template need not have it.
     */
    record VirtiofsBackend(Path socket) implements QemuFragment {
        @Override
        public List<String> args() {
            return List.of("-chardev", "socket,id=" + VIRTIOFS_CHARDEV + ",path=" + socket);
        }
    }

    record Smp(int vcpus) implements QemuFragment {
        @Override
        public List<String> args() {
            return List.of("-smp", Integer.toString(vcpus));
        }
    }

    record Boot(Path kernel, Path initrd, String append) implements QemuFragment {
        @Override
        public List<String> args() {
            return List.of("-kernel", kernel.toString(), "-initrd", initrd.toString(), "-append", append);
        }
    }

    /**
     * The guest's ttyS0 (the kernel needs console=ttyS0) goes to a listening socket that the driver
     * reads into a bounded ring of files ({@link io.javakata.hypervisor.ConsoleRing}); a plain
     * {@code file:} backend would let the guest fill the host's /run.
     */
    record Console(Path socket) implements QemuFragment {
        @Override
        public List<String> args() {
            return List.of("-chardev", "socket,id=console,path=" + socket + ",server=on,wait=off",
                    "-serial", "chardev:console");
        }
    }

    /** QMP server socket; QEMU creates it and deletes it when it exits. */
    record Qmp(Path socket) implements QemuFragment {
        @Override
        public List<String> args() {
            return List.of("-qmp", "unix:" + socket + ",server=on,wait=off");
        }
    }

    /** A virtio-serial port named {@code portName}, whose host side is a listening Unix socket. */
    record AgentSerial(MachineType machine, Path socket, String portName) implements QemuFragment {
        @Override
        public List<String> args() {
            return List.of(
                    "-device", machine.device("virtio-serial") + ",id=vser0",
                    "-chardev", "socket,id=agent,path=" + socket + ",server=on,wait=off",
                    "-device", "virtserialport,bus=vser0.0,chardev=agent,name=" + portName);
        }
    }

    /**
     * The guest's debug console: a virtio-serial port named {@code portName} on a controller of its own (so it
     * does not depend on the agent's transport), whose host side is a listening Unix socket only root reaches.
     */
    record DebugConsole(MachineType machine, Path socket, String portName) implements QemuFragment {
        @Override
        public List<String> args() {
            return List.of(
                    "-device", machine.device("virtio-serial") + ",id=vserdbg",
                    "-chardev", "socket,id=debugcon,path=" + socket + ",server=on,wait=off",
                    "-device", "virtserialport,bus=vserdbg.0,chardev=debugcon,name=" + portName);
        }
    }

    /** A vhost-vsock device with the guest's context id; needs the host's /dev/vhost-vsock. */
    record Vsock(MachineType machine, long cid) implements QemuFragment {
        @Override
        public List<String> args() {
            return List.of("-device", machine.device("vhost-vsock") + ",guest-cid=" + cid);
        }
    }

    /**
     * A vhost-user vsock device whose backend (vhost-device-vsock) listens on {@code socket}: QEMU 7.2's
     * {@code vhost-user-vsock-pci} / {@code vhost-user-vsock-device}. Like vhost-user-fs it needs the guest's
     * memory shared with the backend, which {@link Memory}'s memfd with share=on gives. The guest's CID is the
     * backend's to set, not QEMU's.
     */
    record VhostUserVsock(MachineType machine, Path socket) implements QemuFragment {
        /** The device's {@code id}, which names it to QMP ({@code /machine/peripheral/ID}). */
        static final String DEVICE_ID = "vsock0";

        @Override
        public List<String> args() {
            return List.of(
                    "-chardev", "socket,id=vsockbe,path=" + socket,
                    "-device", machine.device("vhost-user-vsock") + ",chardev=vsockbe,id=" + DEVICE_ID);
        }
    }

    /** A virtiofs device served by virtiofsd on {@code socket}; the guest mounts it by tag. */
    record Virtiofs(MachineType machine, Path socket, String tag) implements QemuFragment {
        @Override
        public List<String> args() {
            return List.of(
                    "-chardev", "socket,id=" + VIRTIOFS_CHARDEV + ",path=" + socket,
                    "-device", machine.device("vhost-user-fs") + ",chardev=" + VIRTIOFS_CHARDEV + ",tag=" + tag
                            + ",queue-size=" + VIRTIOFS_QUEUE_SIZE);
        }
    }

    /**
     * A virtio balloon that only does free page reporting: the guest hands back pages it frees (the
     * initramfs it copied out of at boot, page cache it dropped) and QEMU discards them from the
     * memory backend, so the host's RSS follows what the guest uses rather than what it ever touched.
     * Measured here: 574 MB -> 458 MB RSS for an idle 512 MiB guest. The guest loads virtio_balloon.
     */
    record FreePageReporting(MachineType machine) implements QemuFragment {
        @Override
        public List<String> args() {
            return List.of("-device", machine.device("virtio-balloon") + ",free-page-reporting=on");
        }
    }

    /**
     * A virtio-net device on a tap that already exists in QEMU's network namespace, opened by name
     * (script=no: QEMU configures nothing on the host; vhost stays off, /dev/vhost-net may be absent).
     */
    record Nic(MachineType machine, String id, String tap, String mac) implements QemuFragment {
        @Override
        public List<String> args() {
            return List.of(
                    "-netdev", "tap,id=" + id + ",ifname=" + tap + ",script=no,downscript=no",
                    "-device", machine.device("virtio-net") + ",netdev=" + id + ",mac=" + mac + ",id=" + id + "-dev");
        }
    }

    /**
     * PCIe root ports for later hotplug: q35's pcie.0 itself refuses hotplug ("Bus 'pcie.0' does not
     * support hotplugging"), so devices added at run time go on rp1, rp2, ...
     */
    record PcieRootPorts(int count) implements QemuFragment {
        @Override
        public List<String> args() {
            List<String> args = new ArrayList<>();
            for (int i = 1; i <= count; i++) {
                args.add("-device");
                args.add("pcie-root-port,id=rp" + i + ",bus=pcie.0,chassis=" + i + ",slot=" + i);
            }
            return List.copyOf(args);
        }
    }
}
