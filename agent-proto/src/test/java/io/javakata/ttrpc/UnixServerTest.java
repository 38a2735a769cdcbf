package io.javakata.ttrpc;

import io.javakata.agent.v1.CheckRequest;
import io.javakata.agent.v1.CheckResponse;
import io.javakata.ttrpc.transport.Connection;
import io.javakata.ttrpc.transport.UnixConnection;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The contract over a real Unix socket served by {@link UnixServer}, plus the socket's own behaviour. */
class UnixServerTest extends TtrpcContract {

    @TempDir
    Path dir;
    UnixServer unixServer;

    Path socket() {
        return dir.resolve("run/sub/ttrpc.sock");
    }

    @Override
    Connection connectToServer() throws IOException {
        if (unixServer == null) {
            unixServer = UnixServer.listen(socket(), server);
        }
        return UnixConnection.connect(socket());
    }

    @AfterEach
    void stopUnixServer() {
        if (unixServer != null) {
            unixServer.close();
        }
    }

    @Test
    void socketIsPrivateAndDeletedOnClose() throws IOException {
        connectToServer().close();
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(socket())));
        unixServer.close();
        assertFalse(Files.exists(socket()));
        assertThrows(IOException.class, () -> UnixConnection.connect(socket()));
    }

    @Test
    void staleSocketIsReplacedButALiveOneIsNot() throws IOException {
        Files.createDirectories(socket().getParent());
        try (ServerSocketChannel stale = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            stale.bind(UnixDomainSocketAddress.of(socket()));
            IOException live = assertThrows(IOException.class, () -> UnixServer.listen(socket(), server));
            assertTrue(live.getMessage().contains("already listens"), live.getMessage());
        }
        assertTrue(Files.exists(socket()), "the JDK leaves the file behind: a stale socket");
        try (TtrpcClient client = new TtrpcClient(connectToServer())) {
            assertEquals("v1", client.call(AGENT, "Check", CheckRequest.getDefaultInstance(),
                    CheckResponse.parser(), T).getVersion());
        }
    }

    @Test
    void closeEndsOpenConnections() throws Exception {
        TtrpcClient client = new TtrpcClient(connectToServer());
        assertEquals("v1", client.call(AGENT, "Check", CheckRequest.getDefaultInstance(), CheckResponse.parser(), T)
                .getVersion());
        unixServer.close();
        client.onClose().get(5, TimeUnit.SECONDS);
    }

    @Test
    void garbageNeverHangsTheServer() throws Exception {
        Random random = new Random(42);
        for (int round = 0; round < 20; round++) {
            byte[] garbage = new byte[1 + random.nextInt(4096)];
            random.nextBytes(garbage);
            connectToServer().close();
            try (SocketChannel raw = SocketChannel.open(UnixDomainSocketAddress.of(socket()))) {
                raw.write(ByteBuffer.wrap(garbage));
                raw.shutdownOutput();
                ByteBuffer sink = ByteBuffer.allocate(8192);
                try {
                    while (raw.read(sink.clear()) >= 0) {
                        // drain whatever error answers come back until the server closes
                    }
                } catch (IOException reset) {
                    // the server closed with our garbage unread: also an end
                }
            }
        }
        try (TtrpcClient client = new TtrpcClient(connectToServer())) {
            assertEquals("v1", client.call(AGENT, "Check", CheckRequest.getDefaultInstance(),
                    CheckResponse.parser(), T).getVersion(), "still serving after garbage");
        }
    }
}
