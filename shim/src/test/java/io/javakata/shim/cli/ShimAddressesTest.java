package io.javakata.shim.cli;

import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(10)
class ShimAddressesTest {

    @Test
    void socketHashMatchesWhatContainerdsRuncShimUsed() {
        // The socket name is sha256 of "<address>/<namespace>/<id>" (containerd runtime/v2/shim/util.go, SocketAddress,
        // at v1.6.20); this value was observed under containerd 1.6.20 for -address /tmp/pfctd/c.sock -namespace pfns
        // -id probe1.
        String hex = ShimAddresses.sha256Hex("/tmp/pfctd/c.sock/pfns/probe1");
        assertEquals(64, hex.length());
        assertTrue(hex.startsWith("3c53d112"), hex);
        assertTrue(hex.endsWith("f225e3"), hex);
        assertEquals(Path.of("/run/javakata/s/" + hex),
                ShimAddresses.socketPath(Path.of("/run/javakata"), "/tmp/pfctd/c.sock", "pfns", "probe1"));
    }

    @Test
    void refusesASocketPathLongerThanTheLimit() {
        var e = assertThrows(RuntimeStatusException.class,
                () -> ShimAddresses.socketPath(Path.of("/" + "x".repeat(40)), "/a", "ns", "id"));
        assertEquals(Code.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("must be at most 106"), e.getMessage());
    }

    @Test
    void groupsCriContainersUnderTheirSandbox() {
        assertEquals("pod1", ShimAddresses.groupingId(Map.of("io.kubernetes.cri.container-type", "container",
                "io.kubernetes.cri.sandbox-id", "pod1"), "c1"));
        assertEquals("pod1", ShimAddresses.groupingId(Map.of("io.kubernetes.cri.container-type", "sandbox",
                "io.kubernetes.cri.sandbox-id", "pod1"), "pod1"));
        assertEquals("t1", ShimAddresses.groupingId(Map.of(), "t1"));
        var e = assertThrows(RuntimeStatusException.class, () -> ShimAddresses.groupingId(
                Map.of("io.kubernetes.cri.container-type", "container"), "c1"));
        assertTrue(e.getMessage().contains("io.kubernetes.cri.sandbox-id"), e.getMessage());
    }

    @Test
    void readsAnnotationsLeniently(@TempDir Path dir) throws Exception {
        Path spec = dir.resolve("config.json");
        Files.writeString(spec, """
                {"ociVersion":"1.0.2","process":{"args":["sh"]},"annotations":{
                  "io.kubernetes.cri.container-type":"container","io.kubernetes.cri.sandbox-id":"pod9","n":1}}""");
        assertEquals(Map.of("io.kubernetes.cri.container-type", "container", "io.kubernetes.cri.sandbox-id", "pod9"),
                ShimAddresses.readAnnotations(spec));
        Files.writeString(spec, "{\"ociVersion\":\"1.0.2\"}");
        assertEquals(Map.of(), ShimAddresses.readAnnotations(spec));
    }

    @Test
    void writesTheAddressFileAtomicallyWithoutNewline(@TempDir Path bundle) throws Exception {
        Files.writeString(bundle.resolve("address"), "unix:///old");
        ShimAddresses.writeAddressFile(bundle, "unix:///run/javakata/s/abc");
        assertEquals("unix:///run/javakata/s/abc", Files.readString(bundle.resolve("address")));
        assertFalse(Files.exists(bundle.resolve(".address")));
        assertEquals(Optional.of(Path.of("/run/javakata/s/abc")), ShimAddresses.readAddressFile(bundle));
        assertEquals(Optional.empty(), ShimAddresses.readAddressFile(bundle.resolve("nothing-here")));
    }

    @Test
    void recordsTheConfigurationFileTheOptionsNamed(@TempDir Path bundle) throws Exception {
        assertEquals(Optional.empty(), ShimAddresses.readConfigRecord(bundle));
        ShimAddresses.writeConfigRecord(bundle, Optional.of("/etc/javakata/other.toml"));
        assertEquals("/etc/javakata/other.toml", Files.readString(bundle.resolve("javakata-config")));
        assertFalse(Files.exists(bundle.resolve(".javakata-config")));
        assertEquals(Optional.of("/etc/javakata/other.toml"), ShimAddresses.readConfigRecord(bundle));
        // options without a ConfigPath: no record, and none left from before
        ShimAddresses.writeConfigRecord(bundle, Optional.empty());
        assertEquals(Optional.empty(), ShimAddresses.readConfigRecord(bundle));
    }

    @Test
    void canConnectOnlyToALiveListener(@TempDir Path dir) throws Exception {
        Path socket = dir.resolve("live.sock");
        assertFalse(ShimAddresses.canConnect(socket, Duration.ofMillis(100)));
        try (var server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(socket));
            assertTrue(ShimAddresses.canConnect(socket, Duration.ofMillis(100)));
        }
        // The file outlives the listener, as a crashed shim's socket does.
        assertTrue(Files.exists(socket));
        assertFalse(ShimAddresses.canConnect(socket, Duration.ofMillis(100)));
    }
}
