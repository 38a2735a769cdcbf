package io.javakata.hypervisor.ch;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javakata.hypervisor.VmSpec;

import java.util.Locale;

/**
 * The {@code VmConfig} body of {@code PUT /api/v1/vm.create} for a {@link VmSpec}, with the field names of Cloud
 * Hypervisor's API spec ({@code vmm/src/api/openapi/cloud-hypervisor.yaml} and {@code vmm/src/vm_config.rs} of
 * cloud-hypervisor/cloud-hypervisor):
 * <ul>
 *   <li>{@code cpus}: {@code boot_vcpus} = {@code max_vcpus} = the spec's vCPUs (both required; no hotplug);</li>
 *   <li>{@code memory}: {@code size} in bytes, {@code shared} when virtiofs is used (a vhost-user backend maps the
 *       guest's memory, which must then be a shared mapping);</li>
 *   <li>{@code payload}: {@code kernel}, {@code initramfs}, {@code cmdline};</li>
 *   <li>{@code fs}: the pod's virtiofsd socket under the spec's tag, one queue of 1024 (all four are required);</li>
 *   <li>{@code net}: one entry per NIC, by tap name and guest MAC, no {@code ip}/{@code mask}, so the pod's tap
 *       keeps its configuration;</li>
 *   <li>{@code serial}: {@code Socket} mode, which the driver reads into the bounded console ring;
 *       {@code console} (virtio-console) {@code Off}, since its default, {@code Tty}, writes to Cloud Hypervisor's
 *       stdout, an unbounded log;</li>
 *   <li>{@code vsock}: the guest's CID and the hybrid vsock socket.</li>
 * </ul>
 */
final class ChVmConfig {

    /**
     * The guest kernel parameter that makes the agent listen on AF_VSOCK, and on which port (issue 14 item 1: the
     * guest reads it from /proc/cmdline): with Cloud Hypervisor the agent has no virtio-serial port to use.
     */
    static final String AGENT_VSOCK_PORT_PARAM = "javakata.agent_vsock_port";
    /** virtio-fs: one request queue of 1024 descriptors, Cloud Hypervisor's defaults ({@code FsConfig}). */
    static final int FS_QUEUES = 1;
    static final int FS_QUEUE_SIZE = 1024;

    private static final ObjectMapper JSON = new ObjectMapper();

    private ChVmConfig() {
    }

    static ObjectNode of(VmSpec spec, ChPaths paths, long guestCid) {
        ObjectNode config = JSON.createObjectNode();
        ObjectNode cpus = config.putObject("cpus");
        cpus.put("boot_vcpus", spec.vcpus());
        cpus.put("max_vcpus", spec.vcpus());
        ObjectNode memory = config.putObject("memory");
        memory.put("size", spec.memoryMiB() * 1024L * 1024L);
        memory.put("shared", spec.sharedFs() != null);
        ObjectNode payload = config.putObject("payload");
        payload.put("kernel", spec.kernel().toString());
        payload.put("initramfs", spec.initrd().toString());
        String driverParams = VmSpec.BASE_KERNEL_PARAMS + " " + AGENT_VSOCK_PORT_PARAM + "=" + CloudHypervisor.VSOCK_AGENT_PORT;
        payload.put("cmdline", spec.kernelParams().isEmpty() ? driverParams : driverParams + " " + spec.kernelParams());
        if (spec.agentImage() != null) {
            // discard_writes: what the guest writes to the device goes to private copies, never to the file.
            ObjectNode pmem = config.putArray("pmem").addObject();
            pmem.put("file", spec.agentImage().file().toString());
            pmem.put("discard_writes", true);
        }
        if (spec.sharedFs() != null) {
            ObjectNode fs = config.putArray("fs").addObject();
            fs.put("tag", spec.sharedFs().tag());
            fs.put("socket", paths.virtiofsdSocket().toString());
            fs.put("num_queues", FS_QUEUES);
            fs.put("queue_size", FS_QUEUE_SIZE);
        }
        if (!spec.nics().isEmpty()) {
            ArrayNode net = config.putArray("net");
            for (VmSpec.Nic nic : spec.nics()) {
                ObjectNode entry = net.addObject();
                entry.put("id", nic.id());
                entry.put("tap", nic.tap());
                entry.put("mac", nic.mac().toLowerCase(Locale.ROOT));
            }
        }
        ObjectNode serial = config.putObject("serial");
        serial.put("mode", "Socket");
        serial.put("socket", paths.consoleSocket().toString());
        config.putObject("console").put("mode", "Off");
        ObjectNode vsock = config.putObject("vsock");
        vsock.put("cid", guestCid);
        vsock.put("socket", paths.vsockSocket().toString());
        return config;
    }
}
