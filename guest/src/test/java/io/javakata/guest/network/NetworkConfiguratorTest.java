package io.javakata.guest.network;

import io.javakata.agent.v1.ConfigureNetworkRequest;
import io.javakata.agent.v1.NetworkInterface;
import io.javakata.agent.v1.NetworkRoute;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(10)
class NetworkConfiguratorTest {

    @TempDir
    Path tmp;

    private final List<String> commands = new ArrayList<>();

    private NetworkConfigurator configurator(String failOn) throws IOException {
        return configurator(failOn, java.time.Duration.ofMillis(100));
    }

    private NetworkConfigurator configurator(String failOn, java.time.Duration nicWait) throws IOException {
        Path net = tmp.resolve("net");
        Files.createDirectories(net.resolve("lo"));
        Files.writeString(net.resolve("lo/address"), "00:00:00:00:00:00\n");
        Files.createDirectories(net.resolve("enp0s2"));
        Files.writeString(net.resolve("enp0s2/address"), "0a:58:0a:58:00:05\n");
        return new NetworkConfigurator(net, tmp.resolve("hostname"), argv -> {
            String joined = String.join(" ", argv);
            commands.add(joined);
            if (failOn != null && joined.contains(failOn)) {
                throw new IOException(joined + ": exit 2: ip: RTNETLINK answers: File exists");
            }
        }, nicWait);
    }

    /** A clone of a VM template gets its NIC hot-plugged as it resumes: ConfigureNetwork waits for it. */
    @Test
    void aNicThatAppearsWhileConfiguringIsWaitedFor() throws Exception {
        NetworkConfigurator configurator = configurator(null, java.time.Duration.ofSeconds(10));
        Path late = tmp.resolve("net/enp1s0");
        Thread.ofVirtual().start(() -> {
            try {
                Files.createDirectories(late);
                Files.writeString(late.resolve("address"), "02:00:00:00:00:09\n");
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        assertEquals("enp1s0", configurator.awaitInterfaceWithMac("02:00:00:00:00:09"));
    }

    private static ConfigureNetworkRequest request(String mac) {
        return ConfigureNetworkRequest.newBuilder().setHostname("web-1")
                .addInterfaces(NetworkInterface.newBuilder().setMac(mac).setName("eth0").setMtu(1450)
                        .addAddresses("10.88.0.5/16").addAddresses("fd00::5/64"))
                .addRoutes(NetworkRoute.newBuilder().setDestination("default").setGateway("10.88.0.1").setDevice("eth0")
                        .setFamily(4))
                .addRoutes(NetworkRoute.newBuilder().setDestination("10.99.0.0/24").setGateway("10.88.0.254")
                        .setDevice("eth0").setSource("10.88.0.5").setFamily(4))
                .addRoutes(NetworkRoute.newBuilder().setDestination("default").setGateway("fd00::1").setDevice("eth0")
                        .setFamily(6))
                .build();
    }

    @Test
    void findsTheNicByMacRenamesAndConfiguresIt() throws IOException {
        configurator(null).configure(request("0A:58:0A:58:00:05"));
        assertEquals(List.of(
                "ip link set dev enp0s2 name eth0",
                "ip link set dev eth0 mtu 1450",
                "ip -4 addr add 10.88.0.5/16 dev eth0",
                "ip -6 addr add fd00::5/64 dev eth0",
                "ip link set dev eth0 up",
                "ip -4 route add default via 10.88.0.1 dev eth0",
                "ip -4 route add 10.99.0.0/24 via 10.88.0.254 dev eth0 src 10.88.0.5",
                "ip -6 route add default via fd00::1 dev eth0"), commands);
        assertEquals("web-1", Files.readString(tmp.resolve("hostname")));
    }

    @Test
    void withANetnsPidTheNicIsMovedThereAndConfiguredInsideIt() throws IOException {
        configurator(null).configure(request("0a:58:0a:58:00:05").toBuilder().setNetnsPid(417).build());
        assertEquals(List.of(
                "ip link set dev enp0s2 netns 417",
                "nsenter -t 417 -n ip link set dev lo up",
                "nsenter -t 417 -n ip link set dev enp0s2 name eth0",
                "nsenter -t 417 -n ip link set dev eth0 mtu 1450",
                "nsenter -t 417 -n ip -4 addr add 10.88.0.5/16 dev eth0",
                "nsenter -t 417 -n ip -6 addr add fd00::5/64 dev eth0",
                "nsenter -t 417 -n ip link set dev eth0 up",
                "nsenter -t 417 -n ip -4 route add default via 10.88.0.1 dev eth0",
                "nsenter -t 417 -n ip -4 route add 10.99.0.0/24 via 10.88.0.254 dev eth0 src 10.88.0.5",
                "nsenter -t 417 -n ip -6 route add default via fd00::1 dev eth0"), commands);
        assertEquals("web-1", Files.readString(tmp.resolve("hostname")));
    }

    @Test
    void anUnknownMacIsAnInvalidArgumentAndNothingRuns() throws IOException {
        NetworkConfigurator configurator = configurator(null);
        var e = assertThrows(RuntimeStatusException.class, () -> configurator.configure(request("02:00:00:00:00:09")));
        assertEquals(Code.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().startsWith("interfaces.mac=02:00:00:00:00:09: no guest interface"), e.getMessage());
        assertEquals(List.of(), commands);
    }

    @Test
    void aFailingCommandCarriesIpsMessage() throws IOException {
        NetworkConfigurator configurator = configurator("route add default via 10.88.0.1");
        var e = assertThrows(RuntimeStatusException.class, () -> configurator.configure(request("0a:58:0a:58:00:05")));
        assertEquals(Code.INTERNAL, e.code());
        assertTrue(e.getMessage().contains("File exists"), e.getMessage());
    }
}
