package io.javakata.shim.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.containerd.task.v2.DeleteResponse;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code delete}: the configuration it reads, and its removal of a killed shim's socket (removeDeadShimSocket). */
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

    /**
     * containerd gives delete no runtime options: it finds the configuration start read (here one that moves the
     * state dir) through the bundle's record, and cleans up in that state dir.
     */
    @Test
    void deleteUsesTheConfigurationStartRecorded() throws Exception {
        Path state = tmp.resolve("moved");
        Path config = Files.writeString(tmp.resolve("moved.toml"), "[runtime]\nstate_dir = \"" + state + "\"\n");
        Path socket = deadSocket(state.resolve("s").resolve("e".repeat(64)));
        Path bundle = bundleNaming(socket);
        Files.writeString(bundle.resolve("config.json"), "{\"ociVersion\":\"1.1.0\"}");
        ShimAddresses.writeConfigRecord(bundle, Optional.of(config.toString()));

        byte[] response = new DeleteCommand(deleteFlags(bundle), Map.of(), bundle).run();

        assertEquals(137, DeleteResponse.parseFrom(response).getExitStatus());
        assertFalse(Files.exists(socket), "the dead shim's socket in the recorded configuration's state dir");
    }

    @Test
    void aRecordedConfigurationThatIsGoneIsAnErrorNamingIt() throws Exception {
        Path bundle = Files.createDirectories(tmp.resolve("bundle"));
        Path gone = tmp.resolve("gone.toml");
        ShimAddresses.writeConfigRecord(bundle, Optional.of(gone.toString()));

        var e = assertThrows(RuntimeException.class,
                () -> new DeleteCommand(deleteFlags(bundle), Map.of(), bundle).run());
        assertTrue(Main.message(e).contains(gone.toString()), Main.message(e));
    }

    private static Flags deleteFlags(Path bundle) throws Flags.UsageException {
        return Flags.parse(List.of("-namespace", "ns", "-address", "/run/containerd/containerd.sock", "-id", "t1",
                "-bundle", bundle.toString(), "delete"));
    }

    @Test
    void aBundleWithoutAnAddressFileIsANoOp() throws IOException {
        DeleteCommand.removeDeadShimSocket(Files.createDirectories(tmp.resolve("empty")), tmp.resolve("state"));
        DeleteCommand.removeDeadShimSocket(null, tmp.resolve("state"));
    }
}
