package io.javakata.hypervisor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * Everything a driver needs to launch one VM. Validated on construction, so an invalid spec cannot
 * exist; each failure names the field, the value and the rule.
 *
 * @param id           the sandbox id, used in names and log lines
 * @param stateDir     an existing directory the driver owns for this VM: control socket, console
 *                     log, agent socket, virtiofsd socket
 * @param vmmBinary    the VMM executable (qemu-system-x86_64)
 * @param kernel       the guest kernel image
 * @param initrd       the guest initrd
 * @param kernelParams extra kernel command-line parameters, appended to the driver's own
 * @param vcpus        {@value #MIN_VCPUS} to {@value #MAX_VCPUS}
 * @param memoryMiB    {@value #MIN_MEMORY_MIB} to {@value #MAX_MEMORY_MIB}
 * @param accelerator  AUTO, KVM or TCG
 * @param machine      the machine type ("q35" or "microvm")
 * @param sharedFs     the directory shared into the guest through virtiofs, or null for none
 * @param agentChannel how the agent is reached
 * @param bootTimeout  how long start() may wait for the VMM's control socket
 * @param netns        the network namespace the VMM runs in (a bind-mounted netns file such as
 *                     /var/run/netns/cni-…), or null for the caller's own; tap devices are opened
 *                     in it, so the VM's NICs must live there
 * @param nics         network interfaces cold-plugged at boot, each backed by an existing tap device
 *                     in {@code netns}; empty for none (null becomes empty)
 * @param runAs        the host user the VMM switches to once its devices are open, or "" to keep
 *                     running as root (null becomes "")
 * @param consoleLogMaxBytes the most the guest's serial console may occupy on the host (the two files
 *                     of its ring together), {@value #MIN_CONSOLE_LOG_BYTES} to
 *                     {@value #MAX_CONSOLE_LOG_BYTES}
 * @param hostCgroup   the pod's host cgroup, one directory per hierarchy, that every host process of
 *                     the VM joins before it execs ({@link HostSpawner}); empty for none (null becomes empty)
 * @param debugConsole whether the VM gets a second virtio-serial port, {@code debug0}, on which the agent serves a
 *                     shell in the guest (outside every container) to whoever connects to its host socket
 * @param vsockBackend the vhost-user vsock backend (vhost-device-vsock) that a VMM without a hybrid vsock of its own
 *                     (QEMU) starts for {@link AgentChannel#HYBRID_VSOCK}; null when no such backend is configured
 * @param agentImage   the read-only file system image the guest mounts on /opt (the agent and its Java runtime), or
 *                     null for a guest whose initrd holds everything
 */
public record VmSpec(String id, Path stateDir, Path vmmBinary, Path kernel, Path initrd, String kernelParams,
                     int vcpus, int memoryMiB, Accelerator accelerator, String machine, SharedFs sharedFs,
                     AgentChannel agentChannel, Duration bootTimeout, Path netns, List<Nic> nics, String runAs,
                     long consoleLogMaxBytes, List<Path> hostCgroup, boolean debugConsole, Path vsockBackend,
                     AgentImage agentImage) {

    /**
     * The kernel parameters every driver gives its guest, before its own and the spec's: the console on the first
     * serial port; a panic ends the VM at once (panic=-1 reboots, and the VMM is told to exit on reboot); a reboot
     * is a triple fault, the quickest.
     * <p>
     * {@code swiotlb=noforce}: no DMA bounce buffer. The x86 kernel sets one up at boot (it did for a 512 MiB q35
     * guest) and zeroes all 64 MiB of it, so the VMM holds 64 MiB of guest RAM per VM that nothing
     * uses: a javakata VM's devices are virtio devices without VIRTIO_F_ACCESS_PLATFORM, which address guest memory
     * directly and never bounce (docs/architecture.md, "Guest memory").
     * <p>
     * The rest keeps an idle guest from waking its vCPU (each wake-up is an emulated timer interrupt, and under TCG
     * the host pays for every one; docs/architecture.md, "An idle guest"): {@code tsc=reliable} ends the clocksource
     * watchdog's HPET reads twice a second, {@code nowatchdog} the soft-lockup detector's timer,
     * {@code vm.compaction_proactiveness=0} kcompactd's wake-ups twice a second, and {@code vm.stat_interval=10}
     * folds the per-CPU memory counters every 10 s instead of every second.
     */
    public static final String BASE_KERNEL_PARAMS = "console=ttyS0 panic=-1 reboot=t swiotlb=noforce tsc=reliable "
            + "nowatchdog sysctl.vm.compaction_proactiveness=0 sysctl.vm.stat_interval=10";

    /*
     * The VM's limits. They are the only copy: the shim's configuration loader and its pod sizing check
     * configuration.toml and pod annotations against these, so a value a VmSpec would refuse is refused when it is
     * read, naming its key.
     */
    public static final int MIN_VCPUS = 1;
    public static final int MAX_VCPUS = 254;
    public static final int MIN_MEMORY_MIB = 128;
    public static final int MAX_MEMORY_MIB = 1 << 20;
    /** A user name as useradd(8) accepts it, or "" for root; ',' or '=' would break QEMU's option syntax. */
    public static final String RUN_AS_PATTERN = "[a-z_][a-z0-9_-]{0,31}|";

    /** The console bound unless one is given: 1 MiB keeps a whole boot log and more. */
    public static final long DEFAULT_CONSOLE_LOG_BYTES = 1024 * 1024;
    public static final long MIN_CONSOLE_LOG_BYTES = 16 * 1024;
    public static final long MAX_CONSOLE_LOG_BYTES = 1024L * 1024 * 1024;

    /**
     * One virtio-net interface backed by a tap device that already exists in the VMM's network
     * namespace (QEMU opens it by name with TUNSETIFF, which looks in the caller's netns).
     *
     * @param id  the QEMU netdev/device id stem: letters, digits, '-' or '_' (netdev {@code id},
     *            device {@code id + "-dev"})
     * @param tap the tap device's name: 1 to 15 characters (IFNAMSIZ), no '/', ',', ':' or space
     * @param mac the guest interface's MAC, six colon-separated hex octets, unicast
     */
    public record Nic(String id, String tap, String mac) {
        public Nic {
            require(id != null && id.matches("[A-Za-z][A-Za-z0-9_-]{0,30}"), "nic.id", id,
                    "must be a letter then up to 30 letters, digits, '-' or '_'");
            require(tap != null && tap.matches("[A-Za-z0-9_.-]{1,15}"), "nic.tap", tap,
                    "must be 1 to 15 letters, digits, '.', '-' or '_' (a Linux interface name)");
            require(mac != null && mac.matches("(?i)[0-9a-f]{2}(:[0-9a-f]{2}){5}")
                    && (Integer.parseInt(mac.substring(0, 2), 16) & 1) == 0, "nic.mac", mac,
                    "must be a unicast MAC address such as 02:42:ac:11:00:02");
        }
    }

    /** A VM with no network namespace of its own and no NIC (the original 13-field form). */
    public VmSpec(String id, Path stateDir, Path vmmBinary, Path kernel, Path initrd, String kernelParams,
                  int vcpus, int memoryMiB, Accelerator accelerator, String machine, SharedFs sharedFs,
                  AgentChannel agentChannel, Duration bootTimeout) {
        this(id, stateDir, vmmBinary, kernel, initrd, kernelParams, vcpus, memoryMiB, accelerator, machine, sharedFs,
                agentChannel, bootTimeout, null, List.of(), "", DEFAULT_CONSOLE_LOG_BYTES);
    }

    /** A VM in no host cgroup of its own (the 17-field form). */
    public VmSpec(String id, Path stateDir, Path vmmBinary, Path kernel, Path initrd, String kernelParams,
                  int vcpus, int memoryMiB, Accelerator accelerator, String machine, SharedFs sharedFs,
                  AgentChannel agentChannel, Duration bootTimeout, Path netns, List<Nic> nics, String runAs,
                  long consoleLogMaxBytes) {
        this(id, stateDir, vmmBinary, kernel, initrd, kernelParams, vcpus, memoryMiB, accelerator, machine, sharedFs,
                agentChannel, bootTimeout, netns, nics, runAs, consoleLogMaxBytes, List.of(), false, null, null);
    }

    /** This spec with the VMM in {@code netns} and these NICs. */
    public VmSpec withNetwork(Path netns, List<Nic> nics) {
        return new VmSpec(id, stateDir, vmmBinary, kernel, initrd, kernelParams, vcpus, memoryMiB, accelerator,
                machine, sharedFs, agentChannel, bootTimeout, netns, nics, runAs, consoleLogMaxBytes, hostCgroup,
                debugConsole, vsockBackend, agentImage);
    }

    /** This spec with the VM's host processes in the cgroup {@code dirs} (one per hierarchy). */
    public VmSpec withHostCgroup(List<Path> dirs) {
        return new VmSpec(id, stateDir, vmmBinary, kernel, initrd, kernelParams, vcpus, memoryMiB, accelerator,
                machine, sharedFs, agentChannel, bootTimeout, netns, nics, runAs, consoleLogMaxBytes, dirs, debugConsole,
                vsockBackend, agentImage);
    }

    /** This spec with the VMM running as {@code user} ("" for root) and its console bounded to {@code maxBytes}. */
    public VmSpec withHostLimits(String user, long maxBytes) {
        return new VmSpec(id, stateDir, vmmBinary, kernel, initrd, kernelParams, vcpus, memoryMiB, accelerator,
                machine, sharedFs, agentChannel, bootTimeout, netns, nics, user, maxBytes, hostCgroup, debugConsole,
                vsockBackend, agentImage);
    }

    /** This spec with the guest's debug console port ({@code debug0}) on or off. */
    public VmSpec withDebugConsole(boolean on) {
        return new VmSpec(id, stateDir, vmmBinary, kernel, initrd, kernelParams, vcpus, memoryMiB, accelerator,
                machine, sharedFs, agentChannel, bootTimeout, netns, nics, runAs, consoleLogMaxBytes, hostCgroup, on,
                vsockBackend, agentImage);
    }

    /** This spec with {@code binary} as the vhost-user vsock backend for {@link AgentChannel#HYBRID_VSOCK}. */
    public VmSpec withVsockBackend(Path binary) {
        return new VmSpec(id, stateDir, vmmBinary, kernel, initrd, kernelParams, vcpus, memoryMiB, accelerator,
                machine, sharedFs, agentChannel, bootTimeout, netns, nics, runAs, consoleLogMaxBytes, hostCgroup,
                debugConsole, binary, agentImage);
    }

    /** This spec with {@code image} mounted on the guest's /opt (null for none). */
    public VmSpec withAgentImage(AgentImage image) {
        return new VmSpec(id, stateDir, vmmBinary, kernel, initrd, kernelParams, vcpus, memoryMiB, accelerator,
                machine, sharedFs, agentChannel, bootTimeout, netns, nics, runAs, consoleLogMaxBytes, hostCgroup,
                debugConsole, vsockBackend, image);
    }

    /**
     * The guest's agent image (guest/image/build.sh): a read-only ext4 image the VM gets as a virtio-pmem device
     * (q35, Cloud Hypervisor; the guest maps it with DAX, so its pages stay the host's page cache, shared by every VM)
     * or a read-only virtio-blk disk (microvm, which has no memory devices). The VMM opens it read-only: a guest
     * cannot change it.
     *
     * @param file  the image
     * @param bytes its size: a multiple of {@value #ALIGNMENT} bytes, the alignment of a virtio-pmem region
     */
    public record AgentImage(Path file, long bytes) {
        public static final long ALIGNMENT = 2L * 1024 * 1024;

        public AgentImage {
            require(file != null && file.isAbsolute(), "agentImage.file", file, "must be an absolute path");
            require(bytes > 0 && bytes % ALIGNMENT == 0, "agentImage.bytes", bytes,
                    "must be a positive multiple of 2 MiB (guest/image/build.sh pads the image so)");
        }

        /** The image at {@code file}, with its size. */
        public static AgentImage of(Path file) throws IOException {
            return new AgentImage(file, Files.size(file));
        }

        /** Its size in MiB. */
        public long mebibytes() {
            return bytes / (1024 * 1024);
        }
    }

    /** The agent channel kinds a VM can carry. */
    public enum AgentChannel {
        /** A virtio-serial port whose host side is the VMM's Unix socket. */
        SERIAL,
        /** AF_VSOCK through the host's vhost-vsock (/dev/vhost-vsock). */
        VSOCK,
        /**
         * The guest's AF_VSOCK reached through a Unix socket and a {@code CONNECT <port>} handshake: Cloud
         * Hypervisor's own device, or under QEMU a vhost-user-vsock device served by {@link VmSpec#vsockBackend()}.
         */
        HYBRID_VSOCK
    }

    /**
     * A host directory exported to the guest by virtiofsd under a tag.
     *
     * @param tag       the virtiofs tag the guest mounts ("javakata")
     * @param source    the host directory
     * @param virtiofsd the virtiofsd executable
     * @param cache     virtiofsd's cache mode: auto, always or none
     * @param confined  the spawner whose thread's confinement virtiofsd inherits ({@link HostSpawner.Confined});
     *                  null to start it from the default spawner
     */
    public record SharedFs(String tag, Path source, Path virtiofsd, String cache, HostSpawner.Confined confined) {
        public SharedFs(String tag, Path source, Path virtiofsd, String cache) {
            this(tag, source, virtiofsd, cache, null);
        }

        public SharedFs {
            require(tag != null && tag.matches("[A-Za-z0-9_-]{1,36}"), "sharedFs.tag", tag,
                    "must be 1 to 36 letters, digits, '-' or '_'");
            Objects.requireNonNull(source, "sharedFs.source");
            Objects.requireNonNull(virtiofsd, "sharedFs.virtiofsd");
            require(cache != null && cache.matches("auto|always|none"), "sharedFs.cache", cache,
                    "must be auto, always or none");
        }
    }

    public VmSpec {
        require(id != null && !id.isBlank(), "id", id, "must not be empty");
        Objects.requireNonNull(stateDir, "stateDir");
        Objects.requireNonNull(vmmBinary, "vmmBinary");
        Objects.requireNonNull(kernel, "kernel");
        Objects.requireNonNull(initrd, "initrd");
        kernelParams = kernelParams == null ? "" : kernelParams.strip();
        require(vcpus >= MIN_VCPUS && vcpus <= MAX_VCPUS, "vcpus", vcpus,
                "must be between " + MIN_VCPUS + " and " + MAX_VCPUS);
        require(memoryMiB >= MIN_MEMORY_MIB && memoryMiB <= MAX_MEMORY_MIB, "memoryMiB", memoryMiB,
                "must be between " + MIN_MEMORY_MIB + " and " + MAX_MEMORY_MIB);
        Objects.requireNonNull(accelerator, "accelerator");
        require(machine != null && machine.matches("q35|microvm"), "machine", machine, "must be q35 or microvm");
        Objects.requireNonNull(agentChannel, "agentChannel");
        require(bootTimeout != null && bootTimeout.isPositive(), "bootTimeout", bootTimeout, "must be positive");
        require(netns == null || netns.isAbsolute(), "netns", netns, "must be an absolute path");
        require(vsockBackend == null || vsockBackend.isAbsolute(), "vsockBackend", vsockBackend,
                "must be an absolute path");
        nics = nics == null ? List.of() : List.copyOf(nics);
        hostCgroup = hostCgroup == null ? List.of() : List.copyOf(hostCgroup);
        for (Path dir : hostCgroup) {
            require(dir.isAbsolute(), "hostCgroup", dir, "must be absolute cgroup directories");
        }
        runAs = runAs == null ? "" : runAs;
        require(runAs.matches(RUN_AS_PATTERN), "runAs", runAs,
                "must be empty or a user name (lower-case letters, digits, '_' or '-', at most 32)");
        require(consoleLogMaxBytes >= MIN_CONSOLE_LOG_BYTES && consoleLogMaxBytes <= MAX_CONSOLE_LOG_BYTES,
                "consoleLogMaxBytes", consoleLogMaxBytes,
                "must be between " + MIN_CONSOLE_LOG_BYTES + " and " + MAX_CONSOLE_LOG_BYTES);
        Set<String> seen = new HashSet<>();
        for (Nic nic : nics) {
            require(seen.add(nic.id()) && seen.add("tap:" + nic.tap()), "nics", nic,
                    "ids and tap names must be unique");
        }
    }

    private static void require(boolean ok, String field, Object value, String rule) {
        if (!ok) {
            throw new IllegalArgumentException(field + "=" + value + ": " + rule);
        }
    }
}
