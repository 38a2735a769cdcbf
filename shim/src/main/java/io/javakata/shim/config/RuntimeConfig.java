package io.javakata.shim.config;

import io.javakata.hypervisor.Accelerator;
import io.javakata.hypervisor.VmSpec;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * The shim's configuration, read from configuration.toml (see {@code ConfigLoader}). Every field has
 * a default, so an empty file is a valid configuration. The values are typed and were checked when the file was
 * read (enums for the keys that take a name from a fixed set, {@link Duration}s, {@link Path}s, numbers within
 * {@link VmSpec}'s limits), so nothing downstream re-validates them.
 *
 * @param hypervisor how VMs are launched
 * @param virtiofsd  how the pod directory is shared into the guest
 * @param agent      how the agent is reached
 * @param runtime    the shim's own settings
 */
public record RuntimeConfig(Hypervisor hypervisor, Virtiofsd virtiofsd, Agent agent, Runtime runtime,
                            Template template) {

    public static final Path DEFAULT_PATH = Path.of("/etc/javakata/configuration.toml");

    /** A configuration with the default {@code [template]} table. */
    public RuntimeConfig(Hypervisor hypervisor, Virtiofsd virtiofsd, Agent agent, Runtime runtime) {
        this(hypervisor, virtiofsd, agent, runtime, Template.defaults());
    }

    public static RuntimeConfig defaults() {
        return new RuntimeConfig(Hypervisor.defaults(), Virtiofsd.defaults(), Agent.defaults(), Runtime.defaults(),
                Template.defaults());
    }

    /**
     * The [template] table: VM templates (docs/architecture.md "VM templates").
     *
     * @param enabled  whether pods whose VM shape allows it start by restoring a VM template of their shape (built by
     *                 the first such pod); on by default: a pod whose shape does not allow it cold-boots, saying why
     * @param maxCount how many templates the host keeps (TOML key max_count): each holds its guest RAM on the state
     *                 dir's tmpfs, so when a new one is built the least recently used beyond this many are removed
     * @param spares   whether each warm shim ({@code [runtime] warm_shims}) also holds a spare VM: a clone of this
     *                 configuration's template for the configured vCPUs and memory, restored and rehearsed ahead of a
     *                 pod, which that pod's sandbox then takes as its VM (docs/architecture.md, "Warm spare VMs")
     */
    public record Template(boolean enabled, int maxCount, boolean spares) {
        public static final int MIN_COUNT = 1;
        public static final int MAX_COUNT = 64;

        public Template {
            if (maxCount < MIN_COUNT || maxCount > MAX_COUNT) {
                throw new IllegalArgumentException("template.max_count " + maxCount + " is outside " + MIN_COUNT + ".."
                        + MAX_COUNT);
            }
        }

        /** Without spares. */
        public Template(boolean enabled, int maxCount) {
            this(enabled, maxCount, false);
        }

        public static Template defaults() {
            return new Template(true, 2, false);
        }
    }

    /**
     * How an enum value is written in configuration.toml and in {@code env}'s JSON: its name in lower case, '_' as
     * '-' ({@code CLOUD_HYPERVISOR} is {@code "cloud-hypervisor"}, {@code HYBRID_VSOCK} is {@code "hybrid-vsock"}).
     */
    public static String tomlName(Enum<?> value) {
        return value.name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /** hypervisor.type: the VMM driver. */
    public enum HypervisorType {
        /** QEMU 7.2 ({@code io.javakata.hypervisor.qemu}): KVM or TCG. */
        QEMU,
        /** Cloud Hypervisor v49 or later ({@code io.javakata.hypervisor.ch}): KVM only, agent over hybrid vsock. */
        CLOUD_HYPERVISOR
    }

    /** hypervisor.machine: the QEMU machine type, by QEMU's name for it ({@link #tomlName}). */
    public enum Machine {
        /** PCI Express machine. */
        Q35,
        /** Minimal machine: virtio-mmio devices, no hotplug. */
        MICROVM
    }

    /**
     * agent.transport: a VM's agent channel ({@link VmSpec.AgentChannel}), or {@link #AUTO}, which picks one per pod
     * from what the host has (docs/operations.md "Agent transport").
     */
    public enum Transport {
        /** vsock where the host has /dev/vhost-vsock, else serial. */
        AUTO,
        SERIAL,
        VSOCK,
        HYBRID_VSOCK;

        public static Transport of(VmSpec.AgentChannel channel) {
            return valueOf(channel.name());
        }

        /**
         * The channel a pod gets on a host that has (or not) {@code /dev/vhost-vsock}. AUTO takes the kernel's vsock
         * where it exists (no process per pod) and virtio-serial elsewhere: under QEMU, hybrid vsock answered
         * slower than virtio-serial on this TCG host and costs a process per pod (docs/benchmarks.md, "Agent
         * transports"), so it is used only when configured (and by a VMM that has nothing else).
         */
        public VmSpec.AgentChannel resolve(boolean vhostVsock) {
            if (this != AUTO) {
                return VmSpec.AgentChannel.valueOf(name());
            }
            return vhostVsock ? VmSpec.AgentChannel.VSOCK : VmSpec.AgentChannel.SERIAL;
        }
    }

    /**
     * hypervisor.guest_lockdown: the guest kernel's lockdown level (Linux
     * {@code Documentation/admin-guide/kernel-parameters.txt}, "lockdown"; the LSM is built into the guest kernel,
     * Debian's {@code CONFIG_SECURITY_LOCKDOWN_LSM=y}), given as its {@code lockdown=} parameter. It protects nothing
     * of the host's: the host never trusts the guest. What it buys is memory. At {@link #CONFIDENTIALITY} the guest
     * kernel makes no tracefs (Linux 6.1 {@code kernel/trace/trace.c}, {@code tracing_init_dentry}: "Tracing disabled
     * due to lockdown"), whose file per trace event otherwise pins ~10,000 inodes and dentries (9.3 MiB of slab) in
     * every VM, and, with templates, in every clone's copy of its template's memory (docs/benchmarks.md, "Guest
     * lockdown and a trimmed agent heap"). What the guest's root then cannot do (Linux {@code include/linux/security.h},
     * {@code enum lockdown_reason}): trace the guest kernel (tracefs, kprobes, BPF reads of kernel memory, perf's
     * kernel registers), read {@code /dev/mem} or {@code /proc/kcore}, load an unsigned module (the guest's modules
     * are Debian's, signed), kexec or hibernate. {@link #NONE} gives that back to pods that trace their guest kernel.
     */
    public enum GuestLockdown {
        NONE,
        INTEGRITY,
        CONFIDENTIALITY;

        /** The kernel parameter, "" for {@link #NONE}. */
        public String kernelParam() {
            return this == NONE ? "" : "lockdown=" + tomlName(this);
        }
    }

    /** virtiofsd.cache: the guest page-cache policy virtiofsd is started with ({@code -o cache=}). */
    public enum VirtiofsCache {
        AUTO,
        ALWAYS,
        NONE
    }

    /**
     * [hypervisor] table.
     *
     * @param type          the VMM driver: QEMU or Cloud Hypervisor
     * @param path          the VMM binary (default {@link #DEFAULT_QEMU_PATH}, or {@link #DEFAULT_CLOUD_HYPERVISOR_PATH}
     *                      when type is cloud-hypervisor)
     * @param kernel        the guest kernel
     * @param initrd        the guest initrd (init, busybox, modules, crun)
     * @param agentImage    the guest's agent image, mounted on its /opt: the agent and its Java runtime (TOML key
     *                      agent_image)
     * @param machine       the QEMU machine type
     * @param accel         AUTO (KVM when usable, else TCG), KVM or TCG
     * @param vcpus         default vCPUs of a pod VM, within {@link VmSpec#MIN_VCPUS} to {@link VmSpec#MAX_VCPUS}
     * @param memoryMiB     default memory of a pod VM, within {@link VmSpec#MIN_MEMORY_MIB} to
     *                      {@link VmSpec#MAX_MEMORY_MIB} (TOML key memory_mib)
     * @param kernelParams  extra kernel parameters (TOML key kernel_params)
     * @param bootTimeout   how long to wait for the agent after launching the VM (TOML key
     *                      boot_timeout_seconds)
     * @param runAs         the host user QEMU switches to once its devices are open, "" for root
     *                      (TOML key run_as)
     * @param consoleLogMaxKiB the most a VM's serial console keeps on the host, in KiB (TOML key
     *                      console_log_max_kib)
     * @param lockdown      the guest kernel's lockdown level (TOML key guest_lockdown)
     */
    public record Hypervisor(HypervisorType type, Path path, Path kernel, Path initrd, Path agentImage, Machine machine,
                             Accelerator accel, int vcpus, int memoryMiB, String kernelParams, Duration bootTimeout, String runAs,
                             int consoleLogMaxKiB, GuestLockdown lockdown) {
        /** The user make install creates for QEMU. */
        public static final String DEFAULT_RUN_AS = "javakata-qemu";
        public static final Path DEFAULT_QEMU_PATH = Path.of("/usr/bin/qemu-system-x86_64");
        /** Where Cloud Hypervisor's release binary is commonly installed; Debian does not package it. */
        public static final Path DEFAULT_CLOUD_HYPERVISOR_PATH = Path.of("/usr/local/bin/cloud-hypervisor");

        public static Hypervisor defaults() {
            return new Hypervisor(HypervisorType.QEMU, DEFAULT_QEMU_PATH,
                    Path.of("/usr/share/javakata/vmlinuz"), Path.of("/usr/share/javakata/initrd.img"),
                    Path.of("/usr/share/javakata/agent.img"),
                    Machine.Q35, Accelerator.AUTO, 1, 512, "", Duration.ofSeconds(90), DEFAULT_RUN_AS, 1024,
                    GuestLockdown.CONFIDENTIALITY);
        }

        /** The guest kernel's parameters from this table: the lockdown level's, then kernel_params. */
        public String guestKernelParams() {
            return Stream.of(lockdown.kernelParam(), kernelParams.strip()).filter(p -> !p.isEmpty())
                    .collect(Collectors.joining(" "));
        }
    }

    /**
     * [virtiofsd] table.
     *
     * @param path  the virtiofsd binary
     * @param cache the guest page-cache policy
     */
    public record Virtiofsd(Path path, VirtiofsCache cache) {
        public static Virtiofsd defaults() {
            return new Virtiofsd(Path.of("/usr/lib/qemu/virtiofsd"), VirtiofsCache.AUTO);
        }
    }

    /**
     * [agent] table.
     *
     * @param transport      the channel the agent is reached on: virtio-serial, vsock, hybrid vsock, or auto
     * @param requestTimeout deadline of an agent request that should answer at once (TOML key
     *                       request_timeout_seconds)
     * @param debugConsole   whether pods started with this configuration have a debug console: a root shell in the
     *                       guest, outside every container, that host root reaches with {@code
     *                       containerd-shim-javakata-v2 console POD} (TOML key debug_console; off by default)
     * @param vhostDeviceVsock the vhost-user vsock backend QEMU's hybrid vsock runs on, one process per pod (TOML
     *                       key vhost_device_vsock; make install puts Debian's build there)
     */
    public record Agent(Transport transport, Duration requestTimeout, boolean debugConsole, Path vhostDeviceVsock) {
        /** Where make install puts vhost-device-vsock (Debian's package, unpacked privately). */
        public static final Path DEFAULT_VHOST_DEVICE_VSOCK = Path.of("/usr/libexec/javakata/vhost-device-vsock");
        static final Path VHOST_VSOCK_DEVICE = Path.of("/dev/vhost-vsock");

        public Agent(VmSpec.AgentChannel transport, Duration requestTimeout) {
            this(transport, requestTimeout, false);
        }

        public Agent(VmSpec.AgentChannel transport, Duration requestTimeout, boolean debugConsole) {
            this(Transport.of(transport), requestTimeout, debugConsole, DEFAULT_VHOST_DEVICE_VSOCK);
        }

        public static Agent defaults() {
            return new Agent(Transport.AUTO, Duration.ofSeconds(30), false, DEFAULT_VHOST_DEVICE_VSOCK);
        }

        /** The channel a pod started now gets on this host ({@link Transport#resolve}). */
        public VmSpec.AgentChannel channel() {
            return transport.resolve(Files.exists(VHOST_VSOCK_DEVICE));
        }
    }

    /**
     * [runtime] table.
     *
     * @param stateDir where sandboxes keep their sockets, logs and shared directories (TOML key
     *                 state_dir)
     * @param debug    log at DEBUG even when containerd does not pass -debug
     * @param warmShims how many shim JVMs to keep started ahead of pods (TOML key warm_shims; 0, the default, keeps
     *                  none): a pod's first {@code start} adopts one instead of starting a JVM (docs/architecture.md,
     *                  "Warm shims")
     */
    public record Runtime(Path stateDir, boolean debug, int warmShims) {
        /** The most warm_shims a configuration may ask for: each is an idle JVM on the node. */
        public static final int MAX_WARM_SHIMS = 8;

        public Runtime(Path stateDir, boolean debug) {
            this(stateDir, debug, 0);
        }

        public static Runtime defaults() {
            return new Runtime(Path.of("/run/javakata"), false, 0);
        }
    }
}
