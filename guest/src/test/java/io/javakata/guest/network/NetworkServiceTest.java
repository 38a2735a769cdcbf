package io.javakata.guest.network;

import io.javakata.agent.v1.ConfigureNetworkRequest;
import io.javakata.agent.v1.ListListeningPortsRequest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
                        new RecordingLinks(commands, null)),
                proc.resolve("net"));
        ListListeningPortsRequest now = ListListeningPortsRequest.newBuilder().setWaitMs(0).build();

        assertEquals(List.of(80, 8080), service.listeningPorts(now).getTcpPortsList());
        service.configure(ConfigureNetworkRequest.newBuilder().setNetnsPid(417).build());
        assertEquals(List.of("[417] link lo up"), commands);
        assertEquals(List.of(443, 6379), service.listeningPorts(now).getTcpPortsList());
    }

    /** The warm-up brings up lo of the agent's own namespace, and the port scan stays on that namespace. */
    @Test
    void theWarmUpChangesOnlyTheAgentsLoopbackAndNotWhichNetnsIsThePods() throws Exception {
        Path proc = tmp.resolve("proc");
        Files.createDirectories(proc.resolve("net"));
        Files.writeString(proc.resolve("net/tcp"), ListeningPortsTest.TCP);
        Path net = Files.createDirectories(tmp.resolve("net/lo"));
        Files.writeString(net.resolve("address"), "00:00:00:00:00:00\n");
        List<String> changes = new ArrayList<>();
        NetworkService service = new NetworkService(
                new NetworkConfigurator(net.getParent(), tmp.resolve("hostname"), new RecordingLinks(changes, null)),
                proc.resolve("net"));
        service.warmUp();
        assertEquals(List.of("[" + ProcessHandle.current().pid() + "] link lo up"), changes);
        assertEquals(List.of(80, 8080), service.listeningPorts(ListListeningPortsRequest.newBuilder().setWaitMs(0)
                .build()).getTcpPortsList());
    }

    /** Fast reads while ports are likely to change (after ConfigureNetwork or a change), then slow ones. */
    @Test
    void thePortScanSlowsDownOnceThePortsHaveNotChangedForAWhile() {
        assertEquals(Duration.ofMillis(250), NetworkService.pollInterval(Duration.ZERO));
        assertEquals(Duration.ofMillis(250), NetworkService.pollInterval(Duration.ofSeconds(59)));
        assertEquals(Duration.ofSeconds(2), NetworkService.pollInterval(Duration.ofSeconds(60)));
        assertEquals(Duration.ofSeconds(2), NetworkService.pollInterval(Duration.ofHours(1)));
    }

    /** A long poll still answers at once when the ports differ from the caller's, and at its wait otherwise. */
    @Test
    void aLongPollAnswersAChangeAtOnceAndNothingNewAtItsWait() throws Exception {
        Path proc = tmp.resolve("proc");
        Files.createDirectories(proc.resolve("net"));
        Files.writeString(proc.resolve("net/tcp"), ListeningPortsTest.TCP);
        NetworkService service = new NetworkService(
                new NetworkConfigurator(Files.createDirectories(tmp.resolve("net")), tmp.resolve("hostname"),
                        new RecordingLinks(new ArrayList<>(), null)),
                proc.resolve("net"));
        long start = System.nanoTime();
        assertEquals(List.of(80, 8080), service.listeningPorts(ListListeningPortsRequest.newBuilder().setWaitMs(5000)
                .build()).getTcpPortsList());
        assertTrue(Duration.ofNanos(System.nanoTime() - start).compareTo(Duration.ofSeconds(2)) < 0, "at once");
        start = System.nanoTime();
        assertEquals(List.of(80, 8080), service.listeningPorts(ListListeningPortsRequest.newBuilder().setWaitMs(600)
                .addAllKnownTcpPorts(List.of(80, 8080)).build()).getTcpPortsList());
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        assertTrue(took.compareTo(Duration.ofMillis(550)) > 0 && took.compareTo(Duration.ofSeconds(5)) < 0,
                "answered after " + took);
    }
}
