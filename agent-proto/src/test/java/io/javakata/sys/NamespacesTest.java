package io.javakata.sys;

import static io.javakata.sys.IpCommand.ip;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Against a real network namespace made with {@code ip netns add} (the tests run as root). */
@Timeout(30)
class NamespacesTest {

    private String name;
    private Path netns;

    @BeforeEach
    void addNamespace() throws Exception {
        name = "jk-nstest-" + UUID.randomUUID().toString().substring(0, 8);
        netns = Path.of("/var/run/netns", name);
        ip("netns", "add", name);
        ip("-n", name, "link", "set", "lo", "up");
    }

    @AfterEach
    void deleteNamespace() throws Exception {
        ip("netns", "del", name);
    }

    @Test
    void theActionRunsInTheNamespaceAndTheCallerStaysOut() throws IOException {
        String inside = Namespaces.inNetwork(netns,
                () -> Files.readSymbolicLink(Path.of("/proc/thread-self/ns/net")).toString());
        long inode = (Long) Files.getAttribute(netns, "unix:ino");
        assertEquals("net:[" + inode + "]", inside);
        assertNotEquals(inside, Files.readSymbolicLink(Path.of("/proc/thread-self/ns/net")).toString());
    }

    @Test
    void aSocketMadeThereStaysThereAfterTheThreadEnds() throws Exception {
        try (ServerSocket server = Namespaces.inNetwork(netns, () -> {
            ServerSocket socket = new ServerSocket();
            socket.bind(new InetSocketAddress("127.0.0.1", 0));
            return socket;
        })) {
            int port = server.getLocalPort();
            Thread.ofVirtual().start(() -> {
                try (Socket peer = server.accept(); OutputStream out = peer.getOutputStream()) {
                    out.write("hello".getBytes());
                } catch (IOException ignored) {
                    // the assertion below fails instead
                }
            });
            // From the namespace a client reaches it; from the host's namespace nothing listens there.
            String got = Namespaces.inNetwork(netns, () -> {
                try (Socket client = new Socket("127.0.0.1", port); InputStream in = client.getInputStream()) {
                    return new String(in.readAllBytes());
                }
            });
            assertEquals("hello", got);
            assertThrows(IOException.class, () -> {
                try (Socket ignored = new Socket("127.0.0.1", port)) {
                    // a host listener on the same port number would make this test meaningless; none is expected
                }
            });
        }
    }

    @Test
    void missingFileAndNonNamespaceFileAreClearErrors() {
        Path missing = Path.of("/var/run/netns/jk-no-such-ns");
        var notFound = assertThrows(NoSuchFileException.class, () -> Namespaces.inNetwork(missing, () -> 1));
        assertTrue(notFound.getMessage().contains(missing.toString()), notFound.getMessage());
        var wrong = assertThrows(ErrnoException.class, () -> Namespaces.inNetwork(Path.of("/proc/self/ns/uts"), () -> 1));
        assertTrue(wrong.getMessage().contains("setns(/proc/self/ns/uts)"), wrong.getMessage());
    }

    @Test
    void theActionsIOExceptionComesBackAsItIs() {
        var e = assertThrows(IOException.class, () -> Namespaces.inNetwork(netns, () -> {
            throw new IOException("boom");
        }));
        assertEquals("boom", e.getMessage());
    }
}
