package io.javakata.guest.rpc;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(5)
class AgentPortTest {

    @Test
    void findsThePortByItsName(@TempDir Path tmp) throws Exception {
        Path sys = tmp.resolve("virtio-ports");
        Files.createDirectories(sys.resolve("vport0p0"));
        Files.writeString(sys.resolve("vport0p0/name"), "console\n");
        Files.createDirectories(sys.resolve("vport1p1"));
        Files.writeString(sys.resolve("vport1p1/name"), "agent0\n");
        Files.createDirectories(sys.resolve("vport1p2"));
        assertEquals(Optional.of(Path.of("/dev/vport1p1")), AgentPort.find(sys, Path.of("/dev"), "agent0"));
        assertEquals(Optional.empty(), AgentPort.find(sys, Path.of("/dev"), "agent1"));
        assertEquals(Optional.empty(), AgentPort.find(tmp.resolve("absent"), Path.of("/dev"), "agent0"));
    }
}
