package io.javakata.shim.hostcheck;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * {@code guest-manifest.json}, written by guest/image/build.sh next to the kernel, initrd and agent image it builds and
 * installed with them: which agent the guest holds and which files the build produced.
 *
 * @param version             the agent jar's Implementation-Version
 * @param agentProtocolSha256 sha256 of the agent's {@code javakata/agent.proto}
 * @param kernelRelease       the guest kernel's release
 * @param kernelSha256        sha256 of vmlinuz as built
 * @param initrdSha256        sha256 of initrd.img as built
 * @param agentImageSha256    sha256 of agent.img as built (null in a manifest of a guest without one)
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record GuestManifest(@JsonProperty("version") String version,
                            @JsonProperty("agent_protocol_sha256") String agentProtocolSha256,
                            @JsonProperty("kernel_release") String kernelRelease,
                            @JsonProperty("kernel_sha256") String kernelSha256,
                            @JsonProperty("initrd_sha256") String initrdSha256,
                            @JsonProperty("agent_image_sha256") String agentImageSha256) {

    /** The manifest's name, in the initrd's directory. */
    public static final String FILE_NAME = "guest-manifest.json";

    private static final ObjectMapper JSON = new ObjectMapper();

    /** The manifest that belongs to {@code initrd}. */
    public static Path besides(Path initrd) {
        return initrd.resolveSibling(FILE_NAME);
    }

    /** Reads a manifest; IOException naming the file if it is missing or malformed. */
    public static GuestManifest read(Path file) throws IOException {
        try {
            return JSON.readValue(file.toFile(), GuestManifest.class);
        } catch (IOException e) {
            throw new IOException(file + ": " + (Files.exists(file) ? "malformed: " + e.getMessage().lines()
                    .findFirst().orElse("") : "does not exist"), e);
        }
    }

    /**
     * Compares the manifest with the installed files and this shim: FAIL if a file is missing or not the one built
     * with the manifest, or if the agent speaks another protocol; WARN if only the versions differ.
     */
    Finding check(Path kernel, Path initrd, Path agentImage, ShimBuild shim) {
        List<String> problems = new ArrayList<>();
        verify(kernel, kernelSha256).ifPresent(problems::add);
        verify(initrd, initrdSha256).ifPresent(problems::add);
        if (agentImageSha256 == null) {
            problems.add("the manifest names no agent image: the guest was built before agent images, and its init "
                    + "does not mount " + agentImage);
        } else {
            verify(agentImage, agentImageSha256).ifPresent(problems::add);
        }
        if (!agentProtocolSha256.equals(shim.agentProtocolSha256())) {
            problems.add("the guest's agent speaks another agent protocol (agent.proto sha256 "
                    + abbreviate(agentProtocolSha256) + ") than this shim (" + abbreviate(shim.agentProtocolSha256())
                    + ")");
        }
        if (!problems.isEmpty()) {
            return Finding.fail("guest-assets", String.join("; ", problems) + "; reinstall shim and guest together "
                    + "(make install)");
        }
        String what = "kernel " + kernelRelease + ", agent " + version + ", agent protocol "
                + abbreviate(agentProtocolSha256);
        if (!version.equals(shim.version())) {
            return Finding.warn("guest-assets", what + ": same protocol, but the shim is version " + shim.version());
        }
        return Finding.ok("guest-assets", what + ": match this shim (" + initrd.getParent() + ")");
    }

    /** What is wrong with {@code file}, if its hash is not {@code expected}. */
    private static Optional<String> verify(Path file, String expected) {
        try (InputStream in = Files.newInputStream(file)) {
            return ShimBuild.sha256(in).equals(expected) ? Optional.empty()
                    : Optional.of(file + " is not the file this manifest was built with (a partial install?)");
        } catch (IOException e) {
            return Optional.of("cannot read " + HostView.describe(e));
        }
    }

    private static String abbreviate(String sha) {
        return sha.length() > 12 ? sha.substring(0, 12) : sha;
    }
}
