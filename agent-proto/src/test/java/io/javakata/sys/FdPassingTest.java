package io.javakata.sys;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(20)
class FdPassingTest {

    @TempDir
    Path dir;

    @Test
    void scmRightsCarriesAnOpenFileOverASocketPair() throws Exception {
        Path file = dir.resolve("passed");
        Files.writeString(file, "through the socket");
        int[] pair = FdPassing.socketPair();
        int original = Fds.open(file, Fds.O_RDONLY | Fds.O_CLOEXEC, 0);
        int received = -1;
        try {
            FdPassing.sendFd(pair[0], original, "/dev/pts/7".getBytes(StandardCharsets.UTF_8));
            received = FdPassing.receiveFd(pair[1]);
            assertNotEquals(original, received, "a new descriptor in the receiver");
            assertEquals(file.toRealPath(), Files.readSymbolicLink(Path.of("/proc/self/fd/" + received)));
            assertEquals("through the socket",
                    new String(Terminals.input(received).readAllBytes(), StandardCharsets.UTF_8));
            assertTrue(Files.readString(Path.of("/proc/self/fdinfo/" + received)).contains("flags:\t02"),
                    "received close-on-exec (O_CLOEXEC is 02000000 in fdinfo's octal flags)");
        } finally {
            Fds.close(original);
            if (received >= 0) {
                Fds.close(received);
            }
            Fds.close(pair[0]);
            Fds.close(pair[1]);
        }
    }

    @Test
    void aMessageWithoutDescriptorIsRefused() throws Exception {
        int[] pair = FdPassing.socketPair();
        try {
            Terminals.output(pair[0]).write("no fd".getBytes(StandardCharsets.UTF_8));
            IOException e = assertThrows(IOException.class, () -> FdPassing.receiveFd(pair[1]));
            assertTrue(e.getMessage().contains("without an SCM_RIGHTS descriptor"), e.getMessage());
        } finally {
            Fds.close(pair[0]);
            Fds.close(pair[1]);
        }
    }

    @Test
    void listenerAcceptsAPeerThatAlreadySentAndLeft() throws Exception {
        Path socket = dir.resolve("console.sock");
        Path file = dir.resolve("f");
        Files.writeString(file, "x");
        try (FdPassing.Listener listener = FdPassing.listen(socket)) {
            assertTrue(Files.exists(socket));
            try (var channel = java.nio.channels.SocketChannel.open(java.net.UnixDomainSocketAddress.of(socket))) {
                assertTrue(channel.isConnected());
                // The JDK cannot send SCM_RIGHTS: connect with it to prove accept works, and check that
                // a plain message is refused rather than mistaken for a descriptor.
                channel.write(java.nio.ByteBuffer.wrap(new byte[] {1}));
            }
            IOException e = assertThrows(IOException.class, () -> listener.acceptFd(Duration.ofSeconds(5)));
            assertTrue(e.getMessage().contains("without an SCM_RIGHTS descriptor"), e.getMessage());
        }
        assertFalse(Files.exists(socket), "close removes the socket file");
    }

    @Test
    void aConnectedSocketCarriesBytesAndADescriptorToTheListener() throws Exception {
        Path socket = dir.resolve("qmp.sock");
        Path file = dir.resolve("passed");
        Files.writeString(file, "x");
        try (FdPassing.Listener listener = FdPassing.listen(socket)) {
            int client = FdPassing.connect(socket);
            int original = Fds.open(file, Fds.O_RDONLY | Fds.O_CLOEXEC, 0);
            int received = -1;
            try {
                FdPassing.sendFd(client, original, "{}".getBytes(StandardCharsets.UTF_8));
                received = listener.acceptFd(Duration.ofSeconds(5));
                assertEquals(file.toRealPath(), Files.readSymbolicLink(Path.of("/proc/self/fd/" + received)));
                // The listener closed its end after the message: the client reads end of stream, not a hang.
                assertEquals(0, FdPassing.read(client, new byte[16], Duration.ofSeconds(5)));
            } finally {
                Fds.close(original);
                Fds.close(client);
                if (received >= 0) {
                    Fds.close(received);
                }
            }
        }
    }

    @Test
    void readReturnsWhatArrivedAndTimesOutOnSilence() throws Exception {
        int[] pair = FdPassing.socketPair();
        try {
            byte[] hello = "hello".getBytes(StandardCharsets.UTF_8);
            Fds.writeAll(pair[0], hello, 0, hello.length);
            byte[] buffer = new byte[64];
            int n = FdPassing.read(pair[1], buffer, Duration.ofSeconds(5));
            assertEquals("hello", new String(buffer, 0, n, StandardCharsets.UTF_8));
            IOException silent = assertThrows(IOException.class,
                    () -> FdPassing.read(pair[1], buffer, Duration.ofMillis(50)));
            assertTrue(silent.getMessage().contains("nothing within 50 ms"), silent.getMessage());
        } finally {
            Fds.close(pair[0]);
            Fds.close(pair[1]);
        }
    }

    @Test
    void connectingWhereNothingListensIsAClearError() {
        Path socket = dir.resolve("nobody.sock");
        IOException e = assertThrows(IOException.class, () -> FdPassing.connect(socket));
        assertTrue(e.getMessage().startsWith("connect(" + socket + ")"), e.getMessage());
    }

    @Test
    void acceptTimesOutWithoutPeer() throws Exception {
        try (FdPassing.Listener listener = FdPassing.listen(dir.resolve("idle.sock"))) {
            IOException e = assertThrows(IOException.class, () -> listener.acceptFd(Duration.ofMillis(100)));
            assertTrue(e.getMessage().endsWith("no connection within 100 ms"), e.getMessage());
        }
    }
}
