package io.javakata.shim.network;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javakata.sys.Namespaces;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link PodNetwork} on real network namespaces (the tests run as root): a pod netns whose eth0 is a
 * veth to a "bridge" netns (the gateway, 10.88.0.1 / fd00::1), and a "guest" netns standing in for
 * the VM. The only substitution: the tap is made as a veth whose peer is the guest's NIC, since
 * writing frames into a real tap needs QEMU. Every other command is the one the shim runs. The guest
 * sends UDP datagrams to a socket in the bridge netns with its own and with spoofed addresses.
 */
@Timeout(60)
class SpoofFilterNetnsTest {

    private static final String MAC = "0a:58:0a:58:00:05";
    private static final String GATEWAY_MAC = "0a:58:0a:58:00:01";
    private static final int PORT = 9999;

    private final String id = UUID.randomUUID().toString().substring(0, 6);
    private final String pod = "jk-sp-pod-" + id;
    private final String bridge = "jk-sp-br-" + id;
    private final String guest = "jk-sp-vm-" + id;
    private final CommandRunner host = CommandRunner.host();
    private PodNetwork network;

    @BeforeEach
    void namespaces() throws IOException {
        for (String ns : List.of(pod, bridge, guest)) {
            run("ip", "netns", "add", ns);
            run("ip", "-n", ns, "link", "set", "lo", "up");
        }
        run("ip", "-n", pod, "link", "add", "name", "eth0", "address", MAC, "type", "veth", "peer", "name", "gw0",
                "netns", bridge);
        run("ip", "-n", pod, "addr", "add", "10.88.0.5/24", "dev", "eth0");
        run("ip", "-n", pod, "addr", "add", "fd00::5/64", "dev", "eth0", "nodad");
        run("ip", "-n", pod, "link", "set", "eth0", "up");
        run("ip", "-n", bridge, "link", "set", "gw0", "address", GATEWAY_MAC, "up");
        run("ip", "-n", bridge, "addr", "add", "10.88.0.1/24", "dev", "gw0");
        run("ip", "-n", bridge, "addr", "add", "fd00::1/64", "dev", "gw0", "nodad");

        ObjectNode spec = (ObjectNode) new ObjectMapper().readTree("{\"linux\":{\"namespaces\":[{\"type\":\"network\","
                + "\"path\":\"/var/run/netns/" + pod + "\"}]}}");
        network = PodNetwork.setUp(spec, (argv, stdin) -> host.run(argv, stdin == null ? null : tapAsVeth(stdin)));
        // The guest's NIC: the VM's, with the pod's MAC and addresses (as the agent configures it).
        run("ip", "-n", guest, "link", "set", "g0", "address", MAC, "up");
        run("ip", "-n", guest, "addr", "add", "10.88.0.5/24", "dev", "g0");
        run("ip", "-n", guest, "addr", "add", "fd00::5/64", "dev", "g0", "nodad");
        run("ip", "-n", guest, "addr", "add", "10.88.0.66/24", "dev", "g0");
        run("ip", "-n", guest, "addr", "add", "fd00::66/64", "dev", "g0", "nodad");
        run("ip", "-n", guest, "-6", "neigh", "replace", "fd00::1", "lladdr", GATEWAY_MAC, "dev", "g0", "nud",
                "permanent");
    }

    /**
     * The line {@code tuntap add dev tap0_jk mode tap} of the setup's {@code ip} batch becomes a veth pair whose peer
     * g0 is in the guest netns.
     */
    private String tapAsVeth(String batch) {
        return batch.replace("tuntap add dev tap0_jk mode tap",
                "link add name tap0_jk type veth peer name g0 netns " + guest);
    }

    @AfterEach
    void cleanUp() throws IOException {
        if (network != null) {
            network.close();
        }
        for (String ns : List.of(guest, bridge, pod)) {
            run("ip", "netns", "del", ns);
        }
    }

    @Test
    void onlyThePodsOwnAddressesLeaveThePod() throws Exception {
        try (DatagramSocket gateway = Namespaces.inNetwork(Path.of("/var/run/netns", bridge), () -> {
            DatagramSocket socket = new DatagramSocket(null);
            socket.bind(new InetSocketAddress("::", PORT));
            return socket;
        })) {
            // ARP from the pod's own address resolves the gateway, and the gateway learns the pod's MAC.
            sendFrom("10.88.0.5", "10.88.0.1", "ok-v4");
            assertEquals("ok-v4", receive(gateway));
            assertTrue(gatewayNeighbours().contains("10.88.0.5 " + MAC), gatewayNeighbours());

            // A foreign IPv4 address: its ARP request is dropped, so the gateway never learns it...
            run("ip", "-n", guest, "neigh", "flush", "dev", "g0");
            sendFrom("10.88.0.66", "10.88.0.1", "spoofed-arp");
            // ...and with the gateway's MAC known, the datagram itself is dropped.
            run("ip", "-n", guest, "neigh", "replace", "10.88.0.1", "lladdr", GATEWAY_MAC, "dev", "g0", "nud",
                    "permanent");
            sendFrom("10.88.0.66", "10.88.0.1", "spoofed-ip");
            sendFrom("fd00::66", "fd00::1", "spoofed-ip6");
            sendFrom("fd00::5", "fd00::1", "ok-v6");
            assertEquals("ok-v6", receive(gateway), "the spoofed datagrams, sent first, never arrived");
            assertFalse(gatewayNeighbours().contains("10.88.0.66"), gatewayNeighbours());

            // Another MAC with the pod's own address: dropped too.
            run("ip", "-n", guest, "link", "set", "g0", "address", "0a:58:0a:58:00:99");
            sendFrom("10.88.0.5", "10.88.0.1", "spoofed-mac");
            run("ip", "-n", guest, "link", "set", "g0", "address", MAC);
            sendFrom("10.88.0.5", "10.88.0.1", "ok-again");
            assertEquals("ok-again", receive(gateway), "the spoofed-MAC datagram, sent first, never arrived");
            assertFalse(gatewayNeighbours().contains("0a:58:0a:58:00:99"), gatewayNeighbours());
        }
        assertTrue(network.droppedFrames() >= 4, "dropped frames: " + network.droppedFrames());
    }

    /** One UDP datagram from the guest netns with source {@code from} (a route with that preferred source). */
    private void sendFrom(String from, String to, String payload) throws IOException {
        String family = from.contains(":") ? "-6" : "-4";
        run("ip", "-n", guest, family, "route", "replace", to, "dev", "g0", "src", from);
        run("ip", "netns", "exec", guest, "bash", "-c", "echo -n " + payload + " > /dev/udp/" + to + "/" + PORT);
    }

    private static String receive(DatagramSocket socket) throws IOException {
        socket.setSoTimeout(10_000);
        DatagramPacket packet = new DatagramPacket(new byte[512], 512);
        try {
            socket.receive(packet);
        } catch (SocketTimeoutException e) {
            return "nothing within 10 s";
        }
        return new String(packet.getData(), 0, packet.getLength(), StandardCharsets.US_ASCII);
    }

    /** The gateway's neighbour table as "IP MAC" lines. */
    private String gatewayNeighbours() throws IOException {
        return run("ip", "-n", bridge, "neigh", "show", "dev", "gw0").lines()
                .map(line -> line.replace(" lladdr", "")).reduce("", (a, b) -> a + b + "\n");
    }

    private String run(String... argv) throws IOException {
        return host.run(List.of(argv));
    }
}
