package io.javakata.shim.hostcheck;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(10)
class GuestManifestTest {

    static final String PROTOCOL = "a".repeat(64);
    static final ShimBuild SHIM = new ShimBuild("1.2.0", PROTOCOL, "25", Optional.empty());

    @TempDir
    Path dir;
    Path kernel;
    Path initrd;
    Path agentImage;

    @BeforeEach
    void files() throws Exception {
        kernel = Files.writeString(dir.resolve("vmlinuz"), "kernel bytes");
        initrd = Files.writeString(dir.resolve("initrd.img"), "initrd bytes");
        agentImage = Files.writeString(dir.resolve("agent.img"), "agent image bytes");
    }

    /**
     * A manifest as guest/image/build.sh writes it (printf, two-space indent), for the kernel, the initrd and the
     * agent.img beside it.
     */
    static void writeManifest(Path initrd, Path kernel, String version, String protocol) throws Exception {
        Files.writeString(GuestManifest.besides(initrd), """
                {
                  "version": "%s",
                  "agent_protocol_sha256": "%s",
                  "kernel_release": "6.1.0-56-cloud-amd64",
                  "kernel_sha256": "%s",
                  "initrd_sha256": "%s",
                  "agent_image_sha256": "%s"
                }
                """.formatted(version, protocol, sha(Files.readString(kernel)), sha(Files.readString(initrd)),
                sha(Files.readString(initrd.resolveSibling("agent.img")))));
    }

    static String sha(String text) throws Exception {
        return ShimBuild.sha256(new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8)));
    }

    private Finding check() throws Exception {
        return GuestManifest.read(GuestManifest.besides(initrd)).check(kernel, initrd, agentImage, SHIM);
    }

    @Test
    void theSameBuildMatches() throws Exception {
        writeManifest(initrd, kernel, "1.2.0", PROTOCOL);
        Finding f = check();
        assertEquals(Verdict.OK, f.verdict(), f.detail());
        assertEquals("kernel 6.1.0-56-cloud-amd64, agent 1.2.0, agent protocol aaaaaaaaaaaa: match this shim (" + dir
                + ")", f.detail());
    }

    @Test
    void anInitrdReplacedAfterTheManifestFails() throws Exception {
        assertReplacingFails(initrd);
    }

    @Test
    void anAgentImageReplacedAfterTheManifestFails() throws Exception {
        assertReplacingFails(agentImage);
    }

    /** A file of the guest rewritten after its manifest was written: check names it. */
    private void assertReplacingFails(Path file) throws Exception {
        writeManifest(initrd, kernel, "1.2.0", PROTOCOL);
        Files.writeString(file, "other bytes");
        Finding f = check();
        assertEquals(Verdict.FAIL, f.verdict());
        assertTrue(f.detail().startsWith(file + " is not the file this manifest was built with"), f.detail());
    }

    @Test
    void aManifestWithoutAgentImageFails() throws Exception {
        writeManifest(initrd, kernel, "1.2.0", PROTOCOL);
        Files.writeString(GuestManifest.besides(initrd),
                Files.readString(GuestManifest.besides(initrd)).replaceAll(",\\s*\"agent_image_sha256\": \"[0-9a-f]+\"", ""));
        Finding f = check();
        assertEquals(Verdict.FAIL, f.verdict());
        assertTrue(f.detail().startsWith("the manifest names no agent image"), f.detail());
    }

    @Test
    void anotherAgentProtocolFails() throws Exception {
        writeManifest(initrd, kernel, "1.2.0", "b".repeat(64));
        Finding f = check();
        assertEquals(Verdict.FAIL, f.verdict());
        assertTrue(f.detail().startsWith("the guest's agent speaks another agent protocol (agent.proto sha256 "
                + "bbbbbbbbbbbb) than this shim (aaaaaaaaaaaa)"), f.detail());
    }

    @Test
    void anotherVersionWithTheSameProtocolWarns() throws Exception {
        writeManifest(initrd, kernel, "1.1.0", PROTOCOL);
        Finding f = check();
        assertEquals(Verdict.WARN, f.verdict());
        assertTrue(f.detail().endsWith("same protocol, but the shim is version 1.2.0"), f.detail());
    }

    @Test
    void theShimJarCarriesTheAgentProtocol() {
        // protobuf-maven-plugin puts javakata/agent.proto on the classpath; the manifest's hash is compared with it.
        assertTrue(ShimBuild.current().agentProtocolSha256().matches("[0-9a-f]{64}"),
                ShimBuild.current().agentProtocolSha256());
    }
}
