package io.javakata.hypervisor.qemu;

import io.javakata.hypervisor.Accelerator;
import io.javakata.hypervisor.VmSpec;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * Everything a VM template and its clones must share, and its content hash: a migration stream restores only into
 * the machine it was saved from (same QEMU, devices, RAM size and vCPUs), and the guest in the template must be the
 * one a cold boot of the same configuration would run (same kernel, initrd, agent image, kernel parameters).
 * Files are hashed by content (a digest cached beside the templates, keyed by the file's size, modification time
 * and inode, so a replaced file is hashed again), everything else by value. Two configurations that differ in any
 * of these get different templates; nothing else of a pod (its share, NICs, network namespace, cgroup, sizes of
 * other pods) goes in.
 *
 * @param inputs the named inputs, in a fixed order (what {@code template ls} shows)
 * @param hash   the SHA-256 of the inputs, hex
 */
public record TemplateShape(Map<String, String> inputs, String hash) {

    /** Bumped when the command line of templates or clones changes in a way the inputs do not show. */
    static final String FORMAT = "javakata-template-2";

    public TemplateShape {
        inputs = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(inputs));
    }

    /** The directory name of this shape's template: the first 32 hex digits of the hash. */
    public String key() {
        return hash.substring(0, 32);
    }

    /**
     * The shape of {@code spec} (its share, NICs, netns, cgroup and state dir do not count).
     *
     * @param accelerator  KVM or TCG, as chosen for this host
     * @param shimVersion  the javakata build (the shim's implementation version)
     * @param digestCache  where file digests are cached
     */
    public static TemplateShape of(VmSpec spec, Accelerator accelerator, String shimVersion, Path digestCache)
            throws IOException {
        Map<String, String> inputs = new LinkedHashMap<>();
        inputs.put("format", FORMAT);
        inputs.put("javakata", shimVersion);
        inputs.put("qemu", spec.vmmBinary() + " sha256:" + digest(spec.vmmBinary(), digestCache));
        inputs.put("kernel", spec.kernel() + " sha256:" + digest(spec.kernel(), digestCache));
        inputs.put("initrd", spec.initrd() + " sha256:" + digest(spec.initrd(), digestCache));
        VmSpec.AgentImage image = spec.agentImage();
        inputs.put("agent_image", image == null ? "none"
                : image.file() + " sha256:" + digest(image.file(), digestCache));
        inputs.put("kernel_params", spec.kernelParams());
        inputs.put("vcpus", Integer.toString(spec.vcpus()));
        inputs.put("memory_mib", Integer.toString(spec.memoryMiB()));
        inputs.put("machine", spec.machine());
        inputs.put("accelerator", accelerator.name());
        inputs.put("agent_channel", spec.agentChannel().name());
        inputs.put("debug_console", Boolean.toString(spec.debugConsole()));
        String text = inputs.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue())
                .collect(Collectors.joining("\n", "", "\n"));
        return new TemplateShape(inputs, HexFormat.of().formatHex(sha256().digest(text.getBytes(StandardCharsets.UTF_8))));
    }

    /**
     * Why a VM of {@code spec} cannot start from a template, or empty when it can. virtio-fs and vhost-user vsock
     * cannot be migrated in QEMU 7.2, so the share is hot-plugged after the restore: that needs a machine with
     * hot-pluggable PCIe root ports (q35), and an agent channel that is part of the template (the serial port;
     * a kernel vsock device would keep the template's guest CID). One NIC at most: q35 gets
     * {@value QemuCommandLine#PCIE_ROOT_PORTS} root ports, one for the share.
     */
    public static Optional<String> unsupported(VmSpec spec) {
        if (!spec.machine().equals("q35")) {
            return Optional.of("template needs a q35 machine, not " + spec.machine()
                    + " (virtio-fs is hot-plugged after the restore, and microvm has no hotplug)");
        }
        if (spec.agentChannel() != VmSpec.AgentChannel.SERIAL) {
            return Optional.of("template needs the serial agent channel, not " + spec.agentChannel()
                    + " (QEMU 7.2 cannot migrate vhost-user vsock, and a vhost-vsock guest keeps the template's CID)");
        }
        if (spec.nics().size() > QemuCommandLine.PCIE_ROOT_PORTS - 1) {
            return Optional.of("template hot-plugs at most " + (QemuCommandLine.PCIE_ROOT_PORTS - 1)
                    + " NIC, the pod has " + spec.nics().size());
        }
        return Optional.empty();
    }

    /** The SHA-256 of {@code file}'s content, from the cache while the file's size, mtime and inode match. */
    static String digest(Path file, Path cacheDir) throws IOException {
        BasicFileAttributes attrs = Files.readAttributes(file, BasicFileAttributes.class);
        String stamp = attrs.size() + " " + attrs.lastModifiedTime().toMillis() + " " + attrs.fileKey();
        Path cached = cacheDir.resolve(HexFormat.of().formatHex(sha256().digest(
                file.toAbsolutePath().toString().getBytes(StandardCharsets.UTF_8))).substring(0, 32));
        if (Files.exists(cached)) {
            String[] line = Files.readString(cached).strip().split("\n");
            if (line.length == 2 && line[0].equals(stamp)) {
                return line[1];
            }
        }
        MessageDigest sha = sha256();
        byte[] buffer = new byte[1 << 20];
        try (InputStream in = Files.newInputStream(file)) {
            for (int n; (n = in.read(buffer)) > 0; ) {
                sha.update(buffer, 0, n);
            }
        }
        String hex = HexFormat.of().formatHex(sha.digest());
        Files.createDirectories(cacheDir);
        Path temp = Files.createTempFile(cacheDir, ".digest", ".tmp");
        Files.writeString(temp, stamp + "\n" + hex + "\n");
        Files.move(temp, cached, java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        return hex;
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }
}
