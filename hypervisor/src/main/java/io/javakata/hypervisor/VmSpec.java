package io.javakata.hypervisor;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;

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
 * @param vcpus        1 to 254
 * @param memoryMiB    128 to 1048576
 * @param accelerator  AUTO, KVM or TCG
 * @param machine      the machine type ("q35" or "microvm")
 * @param sharedFs     the directory shared into the guest through virtiofs, or null for none
 * @param agentChannel how the agent is reached
 * @param bootTimeout  how long start() may wait for the VMM's control socket
 */
public record VmSpec(String id, Path stateDir, Path vmmBinary, Path kernel, Path initrd, String kernelParams,
                     int vcpus, int memoryMiB, Accelerator accelerator, String machine, SharedFs sharedFs,
                     AgentChannel agentChannel, Duration bootTimeout) {

    /** The agent channel kinds a VM can carry. */
    public enum AgentChannel {
        SERIAL,
        VSOCK
    }

    /**
     * A host directory exported to the guest by virtiofsd under a tag.
     *
     * @param tag       the virtiofs tag the guest mounts ("javakata")
     * @param source    the host directory
     * @param virtiofsd the virtiofsd executable
     * @param cache     virtiofsd's cache mode: auto, always or none
     */
    public record SharedFs(String tag, Path source, Path virtiofsd, String cache) {
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
        require(vcpus >= 1 && vcpus <= 254, "vcpus", vcpus, "must be between 1 and 254");
        require(memoryMiB >= 128 && memoryMiB <= 1_048_576, "memoryMiB", memoryMiB,
                "must be between 128 and 1048576");
        Objects.requireNonNull(accelerator, "accelerator");
        require(machine != null && machine.matches("q35|microvm"), "machine", machine, "must be q35 or microvm");
        Objects.requireNonNull(agentChannel, "agentChannel");
        require(bootTimeout != null && bootTimeout.isPositive(), "bootTimeout", bootTimeout, "must be positive");
    }

    private static void require(boolean ok, String field, Object value, String rule) {
        if (!ok) {
            throw new IllegalArgumentException(field + "=" + value + ": " + rule);
        }
    }
}
