package io.javakata.shim.cli;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code delete}'s removal of a killed shim's socket (DeleteCommand.removeDeadShimSocket). */
class DeleteCommandTest {

    @TempDir
    Path tmp;

    /** A socket file nothing listens on any more, as a SIGKILLed shim leaves it. */
    private static Path deadSocket(Path path) throws IOException {
        Files.createDirectories(path.getParent());
        try (var server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(path));
        }
        assertTrue(Files.exists(path), "closing a bound socket leaves its file");
        return path;
    }

    private Path bundleNaming(Path socket) throws IOException {
        Path bundle = Files.createDirectories(tmp.resolve("bundle"));
        ShimAddresses.writeAddressFile(bundle, "unix://" + socket);
        return bundle;
    }

    @Test
    void theSocketAKilledShimLeftIsRemoved() throws IOException {
        Path state = tmp.resolve("state");
        Path socket = deadSocket(state.resolve("s").resolve("a".repeat(64)));
        DeleteCommand.removeDeadShimSocket(bundleNaming(socket), state);
        assertFalse(Files.exists(socket));
    }

    @Test
    void aLiveShimsSocketStays() throws IOException {
        Path state = tmp.resolve("state");
        Path socket = Files.createDirectories(state.resolve("s")).resolve("b".repeat(64));
        try (var server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(socket));
            DeleteCommand.removeDeadShimSocket(bundleNaming(socket), state);
            assertTrue(Files.exists(socket), "the pod's shim still answers there");
        }
    }

    @Test
    void aSocketOutsideTheShimsDirectoryIsNeverTouched() throws IOException {
        Path state = tmp.resolve("state");
        Files.createDirectories(state.resolve("s"));
        Path elsewhere = deadSocket(tmp.resolve("elsewhere").resolve("sock"));
        DeleteCommand.removeDeadShimSocket(bundleNaming(elsewhere), state);
        assertTrue(Files.exists(elsewhere));
        Path escaping = deadSocket(tmp.resolve("state/escaped"));
        DeleteCommand.removeDeadShimSocket(bundleNaming(state.resolve("s/../escaped")), state);
        assertTrue(Files.exists(escaping), "s/.. is not the shims' directory");
    }

    @Test
    void onlyASocketIsRemovedNeverAFileOrADirectory() throws IOException {
        Path state = tmp.resolve("state");
        Path dir = Files.createDirectories(state.resolve("s").resolve("c".repeat(64)));
        Files.writeString(dir.resolve("inside"), "x");
        DeleteCommand.removeDeadShimSocket(bundleNaming(dir), state);
        assertTrue(Files.exists(dir.resolve("inside")), "a directory stays, and delete does not fail");
        Path file = Files.writeString(state.resolve("s").resolve("d".repeat(64)), "not a socket");
        DeleteCommand.removeDeadShimSocket(bundleNaming(file), state);
        assertTrue(Files.exists(file));
    }

    @Test
    void aBundleWithoutAnAddressFileIsANoOp() throws IOException {
        DeleteCommand.removeDeadShimSocket(Files.createDirectories(tmp.resolve("empty")), tmp.resolve("state"));
        DeleteCommand.removeDeadShimSocket(null, tmp.resolve("state"));
    }
}
