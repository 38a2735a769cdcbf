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
        return new NetworkConfigurator(net, tmp.resolve("hostname"), new RecordingLinks(commands, failOn), nicWait);
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
                "[agent] link enp0s2 name eth0",
                "[agent] link eth0 mtu 1450",
                "[agent] addr 10.88.0.5/16 dev eth0",
                "[agent] addr fd00:0:0:0:0:0:0:5/64 dev eth0",
                "[agent] link eth0 up",
                "[agent] route -4 default via 10.88.0.1 dev eth0",
                "[agent] route -4 10.99.0.0/24 via 10.88.0.254 dev eth0 src 10.88.0.5",
                "[agent] route -6 default via fd00:0:0:0:0:0:0:1 dev eth0"), commands);
        assertEquals("web-1", Files.readString(tmp.resolve("hostname")));
    }

    @Test
    void withANetnsPidTheNicIsMovedThereAndConfiguredInsideIt() throws IOException {
        configurator(null).configure(request("0a:58:0a:58:00:05").toBuilder().setNetnsPid(417).build());
        assertEquals(List.of(
                "[agent] link enp0s2 netns 417",
                "[417] link lo up",
                "[417] link enp0s2 name eth0",
                "[417] link eth0 mtu 1450",
                "[417] addr 10.88.0.5/16 dev eth0",
                "[417] addr fd00:0:0:0:0:0:0:5/64 dev eth0",
                "[417] link eth0 up",
                "[417] route -4 default via 10.88.0.1 dev eth0",
                "[417] route -4 10.99.0.0/24 via 10.88.0.254 dev eth0 src 10.88.0.5",
                "[417] route -6 default via fd00:0:0:0:0:0:0:1 dev eth0"), commands);
        assertEquals("web-1", Files.readString(tmp.resolve("hostname")));
    }

    /** The warm-up's rehearsal plans a whole pod's request for lo and walks it, changing nothing. */
    @Test
    void aRehearsalWalksAPodsChangesAndMakesNone() throws IOException {
        assertEquals(10, configurator(null).rehearse(417));
        assertEquals(List.of(), commands);
        assertTrue(Files.notExists(tmp.resolve("hostname")));
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
    void aRefusedChangeNamesTheChangeAndTheKernelsAnswer() throws IOException {
        NetworkConfigurator configurator = configurator("route -4 default via 10.88.0.1");
        var e = assertThrows(RuntimeStatusException.class, () -> configurator.configure(request("0a:58:0a:58:00:05")));
        assertEquals(Code.INTERNAL, e.code());
        assertTrue(e.getMessage().startsWith("configure the guest network: route -4 default via 10.88.0.1 dev eth0: "),
                e.getMessage());
        assertTrue(e.getMessage().contains("EEXIST (File exists)"), e.getMessage());
    }

    /** A value that cannot be used is refused before any change: the guest's links stay as they were. */
    @Test
    void aBadAddressGatewayOrNameIsAnInvalidArgumentNamingItsFieldAndNothingChanges() throws IOException {
        NetworkConfigurator configurator = configurator(null);
        ConfigureNetworkRequest good = request("0a:58:0a:58:00:05");
        List<ConfigureNetworkRequest> bad = List.of(
                good.toBuilder().setInterfaces(0, good.getInterfaces(0).toBuilder().setAddresses(1, "fd00::5/129"))
                        .build(),
                good.toBuilder().setInterfaces(0, good.getInterfaces(0).toBuilder().setAddresses(0, "web.local/16"))
                        .build(),
                good.toBuilder().setInterfaces(0, good.getInterfaces(0).toBuilder().setName("a-name-longer-than-15"))
                        .build(),
                good.toBuilder().setRoutes(1, good.getRoutes(1).toBuilder().setGateway("10.88.0.x")).build(),
                good.toBuilder().setRoutes(2, good.getRoutes(2).toBuilder().setGateway("10.88.0.1")).build(),
                good.toBuilder().setRoutes(0, good.getRoutes(0).toBuilder().setDevice("x".repeat(300))).build(),
                good.toBuilder().setRoutes(1, good.getRoutes(1).toBuilder().setFamily(0)).build());
        List<String> fields = List.of("interfaces[0].addresses=fd00::5/129", "interfaces[0].addresses=web.local/16",
                "interfaces[0].name=a-name-longer-than-15", "routes[1].gateway=10.88.0.x",
                "routes[2]: 10.88.0.1 is not an IPv6 address", "routes[0].device=xxx", "routes[1]: family 0");
        for (int i = 0; i < bad.size(); i++) {
            ConfigureNetworkRequest request = bad.get(i);
            var e = assertThrows(RuntimeStatusException.class, () -> configurator.configure(request));
            assertEquals(Code.INVALID_ARGUMENT, e.code(), e.getMessage());
            assertTrue(e.getMessage().startsWith(fields.get(i)), e.getMessage());
        }
        assertEquals(List.of(), commands);
    }
}
