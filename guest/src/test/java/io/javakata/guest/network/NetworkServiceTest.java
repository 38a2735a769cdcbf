package io.javakata.guest.network;

import io.javakata.agent.v1.ConfigureNetworkRequest;
import io.javakata.agent.v1.ListListeningPortsRequest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

@Timeout(10)
class NetworkServiceTest {

    @TempDir
    Path tmp;

    /** Until ConfigureNetwork names the pod's netns the agent's own tables count; after it, that pid's. */
    @Test
    void theListeningPortScanFollowsThePodNetnsOnceConfigured() throws Exception {
        Path proc = tmp.resolve("proc");
        Files.createDirectories(proc.resolve("net"));
        Files.writeString(proc.resolve("net/tcp"), ListeningPortsTest.TCP);
        Files.createDirectories(proc.resolve("417/net"));
        Files.writeString(proc.resolve("417/net/tcp6"), ListeningPortsTest.TCP6);
        List<String> commands = new ArrayList<>();
        NetworkService service = new NetworkService(
                new NetworkConfigurator(Files.createDirectories(tmp.resolve("net")), tmp.resolve("hostname"),
                        argv -> commands.add(String.join(" ", argv))),
                proc.resolve("net"));
        ListListeningPortsRequest now = ListListeningPortsRequest.newBuilder().setWaitMs(0).build();

        assertEquals(List.of(80, 8080), service.listeningPorts(now).getTcpPortsList());
        service.configure(ConfigureNetworkRequest.newBuilder().setNetnsPid(417).build());
        assertEquals(List.of("nsenter -t 417 -n ip link set dev lo up"), commands);
        assertEquals(List.of(443, 6379), service.listeningPorts(now).getTcpPortsList());
    }
}
