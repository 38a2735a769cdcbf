package io.javakata.shim.sandbox;

import io.javakata.hypervisor.VmSpec;
import io.javakata.shim.config.RuntimeConfig;
import io.javakata.ttrpc.Errors;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * How large a pod's VM is, decided once, when the sandbox task boots it.
 *
 * <p>The rule follows Kata's static sizing: the base is the configuration's {@code vcpus} and
 * {@code memory_mib}, or a per-pod override from the allowlisted annotations {@value #VCPUS} and
 * {@value #MEMORY_MIB}; to it is added what the pod asks for through CRI's sandbox annotations
 * (containerd pkg/cri/annotations/annotations.go, {@code io.kubernetes.cri.sandbox-*}; written only when the
 * kubelet sends pod-level resources): the CPU quota
 * over the period rounded up to whole vCPUs ({@code 220000/100000} gives 3), and the memory limit
 * rounded up to MiB. The containers' own limits are unknown when the VM boots, so the base must
 * cover the guest's own needs. The result is capped by the host and by {@link VmSpec}'s limits: no more
 * vCPUs than host CPUs (nor {@value VmSpec#MAX_VCPUS}), no more memory than the host has (nor
 * {@value VmSpec#MAX_MEMORY_MIB} MiB).
 *
 * <p>A malformed CRI annotation is ignored with a warning, as Kata does (CRI writes only numbers);
 * a malformed override, or one outside {@link VmSpec}'s limits (the same the configuration file is held to),
 * is refused with INVALID_ARGUMENT naming the key, the value and the range.
 *
 * @param vcpus     vCPUs of the VM
 * @param memoryMiB memory of the VM in MiB
 */
public record SandboxSizing(int vcpus, int memoryMiB) {

    /** Per-pod override of the configured vCPU count (pod annotation, allowlisted in CRI's pod_annotations). */
    public static final String VCPUS = "io.javakata.config.hypervisor.vcpus";
    /** Per-pod override of the configured memory, in MiB. */
    public static final String MEMORY_MIB = "io.javakata.config.hypervisor.memory_mib";
    static final String CPU_QUOTA = "io.kubernetes.cri.sandbox-cpu-quota";
    static final String CPU_PERIOD = "io.kubernetes.cri.sandbox-cpu-period";
    static final String MEMORY = "io.kubernetes.cri.sandbox-memory";
    private static final long MIB = 1024 * 1024;
    private static final System.Logger LOG = System.getLogger(SandboxSizing.class.getName());

    /**
     * What the host offers.
     *
     * @param cpus      online CPUs
     * @param memoryMiB MemTotal of /proc/meminfo, in MiB
     */
    public record Host(int cpus, long memoryMiB) {

        /** This machine: {@code Runtime.availableProcessors()} and /proc/meminfo's MemTotal. */
        public static Host current() {
            return new Host(Runtime.getRuntime().availableProcessors(), memTotalMiB(Path.of("/proc/meminfo")));
        }

        static long memTotalMiB(Path meminfo) {
            try {
                for (String line : Files.readAllLines(meminfo, StandardCharsets.US_ASCII)) {
                    if (line.startsWith("MemTotal:")) {
                        return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
                    }
                }
            } catch (IOException | NumberFormatException e) {
                LOG.log(System.Logger.Level.WARNING, "read MemTotal from " + meminfo + ": " + e.getMessage());
            }
            return Long.MAX_VALUE;
        }
    }

    /**
     * Sizes a pod's VM.
     *
     * @param config      the configured defaults
     * @param annotations the sandbox spec's annotations
     * @param host        the host's limits
     */
    public static SandboxSizing of(RuntimeConfig.Hypervisor config, Map<String, String> annotations, Host host) {
        int baseCpus = override(annotations, VCPUS, config.vcpus(), VmSpec.MIN_VCPUS, VmSpec.MAX_VCPUS);
        int baseMemory = override(annotations, MEMORY_MIB, config.memoryMiB(), VmSpec.MIN_MEMORY_MIB,
                VmSpec.MAX_MEMORY_MIB);
        long quota = criNumber(annotations, CPU_QUOTA);
        long period = criNumber(annotations, CPU_PERIOD);
        long podCpus = quota > 0 && period > 0 ? Math.min(Math.ceilDiv(quota, period), VmSpec.MAX_VCPUS) : 0;
        long memoryBytes = criNumber(annotations, MEMORY);
        long podMemory = memoryBytes > 0 ? Math.min(Math.ceilDiv(memoryBytes, MIB), VmSpec.MAX_MEMORY_MIB) : 0;

        long wantCpus = baseCpus + podCpus;
        long wantMemory = baseMemory + podMemory;
        int cpus = (int) Math.min(wantCpus, Math.min(Math.max(host.cpus(), 1), VmSpec.MAX_VCPUS));
        int memory = (int) Math.min(wantMemory, Math.min(host.memoryMiB(), VmSpec.MAX_MEMORY_MIB));
        if (cpus < wantCpus || memory < wantMemory) {
            LOG.log(System.Logger.Level.WARNING, "pod asks for {0} vCPUs and {1} MiB; the host allows {2} and {3}",
                    String.valueOf(wantCpus), String.valueOf(wantMemory), String.valueOf(cpus), String.valueOf(memory));
        }
        return new SandboxSizing(cpus, memory);
    }

    private static int override(Map<String, String> annotations, String key, int configured, int min, int max) {
        String value = annotations.get(key);
        if (value == null) {
            return configured;
        }
        int parsed;
        try {
            parsed = Integer.parseInt(value.strip());
        } catch (NumberFormatException e) {
            throw Errors.invalidArgument("%s=%s in sandbox annotations: must be a whole number between %d and %d",
                    key, value, min, max);
        }
        if (parsed < min || parsed > max) {
            throw Errors.invalidArgument("%s=%d in sandbox annotations: must be between %d and %d", key, parsed, min,
                    max);
        }
        return parsed;
    }

    /** A CRI sizing annotation; 0 if absent or not a number (logged, as Kata does). */
    private static long criNumber(Map<String, String> annotations, String key) {
        String value = annotations.get(key);
        if (value == null || value.isBlank()) {
            return 0;
        }
        try {
            return Long.parseLong(value.strip());
        } catch (NumberFormatException e) {
            LOG.log(System.Logger.Level.WARNING, "sandbox sizing: ignoring {0}={1}: not a whole number", key, value);
            return 0;
        }
    }
}
