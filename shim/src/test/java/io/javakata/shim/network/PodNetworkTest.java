package io.javakata.shim.network;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javakata.shim.agent.Agent;
import io.javakata.hypervisor.Accelerator;
import io.javakata.hypervisor.VmSpec;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(10)
class PodNetworkTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    static final String ADDR = """
            [{"ifindex":1,"ifname":"lo","mtu":65536,"link_type":"loopback","address":"00:00:00:00:00:00",
              "addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host"}]},
             {"ifindex":2,"ifname":"eth0","mtu":1450,"link_type":"ether","address":"0A:58:0A:58:00:05",
              "addr_info":[{"family":"inet","local":"10.88.0.5","prefixlen":16,"scope":"global"},
                           {"family":"inet6","local":"fd00::5","prefixlen":64,"scope":"global"},
                           {"family":"inet6","local":"fe80::858:aff:fe58:5","prefixlen":64,"scope":"link"}]}]
            """;
    static final String ROUTES4 = """
            [{"dst":"default","gateway":"10.88.0.1","dev":"eth0"},
             {"dst":"10.88.0.0/16","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"10.88.0.5"},
             {"dst":"10.99.0.0/24","gateway":"10.88.0.254","dev":"eth0","prefsrc":"10.88.0.5"}]
            """;
    static final String ROUTES6 = """
            [{"dst":"fd00::/64","dev":"eth0","protocol":"kernel","metric":256},
             {"dst":"fe80::/64","dev":"eth0","protocol":"kernel","metric":256},
             {"dst":"default","gateway":"fd00::1","dev":"eth0","metric":1024}]
            """;

    @TempDir
    Path tmp;

    /**
     * Answers the show commands from fixtures and records every command, each line of a batch ({@code ip|tc [-force]
     * -batch -}) as the command it stands for; fails those that contain {@code failOn}, as iproute2 does (a batch
     * stops at that line unless forced, and names it).
     */
    static final class FakeRunner implements CommandRunner {
        final List<List<String>> commands = new ArrayList<>();
        /** The processes run: one per command or batch. */
        final List<List<String>> processes = new ArrayList<>();
        String addr = ADDR;
        String failOn = null;

        @Override
        public String run(List<String> argv, String stdin) throws IOException {
            processes.add(argv);
            if (argv.contains("-batch")) {
                assertEquals("-", argv.get(argv.size() - 1));
                String[] lines = stdin.split("\n");
                int failed = 0;
                for (int i = 0; i < lines.length; i++) {
                    List<String> command = new ArrayList<>(argv.subList(0, 3));
                    command.addAll(List.of(lines[i].split(" ")));
                    commands.add(command);
                    if (failOn != null && lines[i].contains(failOn.substring(failOn.indexOf(' ') + 1))) {
                        failed = failed == 0 ? i + 1 : failed;
                        if (!argv.contains("-force")) {
                            break;
                        }
                    }
                }
                if (failed > 0) {
                    throw new IOException(String.join(" ", argv) + ": exit 1: RTNETLINK answers: Operation not "
                            + "supported\nCommand failed -:" + failed);
                }
                return "";
            }
            commands.add(argv);
            String joined = String.join(" ", argv);
            if (failOn != null && joined.contains(failOn)) {
                throw new IOException(joined + ": exit 2: RTNETLINK answers: Operation not supported");
            }
            if (joined.endsWith("ip -j addr show")) {
                return addr;
            }
            if (joined.endsWith("ip -j -4 route show")) {
                return ROUTES4;
            }
            if (joined.endsWith("ip -j -6 route show")) {
                return ROUTES6;
            }
            return "";
        }

        List<String> mutations() {
            return commands.stream().map(c -> String.join(" ", c.subList(2, c.size())))
                    .filter(c -> !c.contains(" show")).toList();
        }
    }

    private ObjectNode spec(String namespaces) throws IOException {
        return (ObjectNode) JSON.readTree("""
                {"hostname": "web-1", "linux": {"namespaces": %s}}""".formatted(namespaces));
    }

    private Path netnsFile() throws IOException {
        return Files.createFile(tmp.resolve("cni-1234"));
    }

    @Test
    void mirrorsEachInterfaceToATapAndTellsTheGuestEverything() throws IOException {
        Path netns = netnsFile();
        FakeRunner runner = new FakeRunner();
        PodNetwork network = PodNetwork.setUp(spec("[{\"type\":\"pid\"},{\"type\":\"network\",\"path\":\"" + netns
                + "\"}]"), runner);
        assertEquals(List.of("/usr/bin/nsenter", "--net=" + netns, "ip", "-j", "addr", "show"), runner.commands.get(0));
        List<String> mutations = runner.mutations();
        assertEquals(List.of(
                "ip link add name drop_jk type ifb",
                "ip tuntap add dev tap0_jk mode tap",
                "ip link set dev tap0_jk mtu 1450 up",
                "tc qdisc add dev eth0 ingress",
                "tc filter add dev eth0 parent ffff: protocol all u32 match u32 0 0 action mirred egress redirect dev tap0_jk",
                "tc qdisc add dev tap0_jk ingress"),
                mutations.subList(0, 6));
        // From the tap only what SpoofFilter lets through (its rules are checked in SpoofFilterTest).
        assertEquals(SpoofFilter.filters(netns, "tap0_jk", network.interfaces().get(0)).stream()
                .map(c -> String.join(" ", c.subList(2, c.size()))).toList(), mutations.subList(6, mutations.size()));
        // Three processes look (addresses, IPv4 and IPv6 routes); the setup is one ip and one tc batch.
        assertEquals(List.of("ip -j addr show", "ip -j -4 route show", "ip -j -6 route show", "ip -batch -",
                "tc -batch -"), runner.processes.stream().map(c -> String.join(" ", c.subList(2, c.size()))).toList());

        VmSpec vm = network.applyTo(new VmSpec("p", tmp, Path.of("/q"), Path.of("/k"), Path.of("/i"), "", 1, 256,
                Accelerator.TCG, "q35", null, VmSpec.AgentChannel.SERIAL, Duration.ofSeconds(1)));
        assertEquals(netns, vm.netns());
        assertEquals(List.of(new VmSpec.Nic("net0", "tap0_jk", "0a:58:0a:58:00:05")), vm.nics());

        Agent.GuestNetwork guest = network.guestNetwork("web-1");
        assertEquals("web-1", guest.hostname());
        assertEquals(1, guest.interfaces().size());
        assertEquals("eth0", guest.interfaces().get(0).name());
        assertEquals(1450, guest.interfaces().get(0).mtu());
        assertEquals(List.of("10.88.0.5/16", "fd00::5/64"), guest.interfaces().get(0).addresses());
        assertEquals(List.of("default via 10.88.0.1 dev eth0 src  family 4",
                        "10.99.0.0/24 via 10.88.0.254 dev eth0 src 10.88.0.5 family 4",
                        "default via fd00::1 dev eth0 src  family 6"),
                guest.routes().stream().map(r -> r.destination() + " via " + r.gateway() + " dev "
                        + r.device() + " src " + r.source() + " family " + r.family()).toList());

        runner.commands.clear();
        runner.processes.clear();
        network.close();
        network.close();
        assertEquals(List.of("tc qdisc del dev eth0 ingress", "ip link del dev tap0_jk", "ip link del dev drop_jk"),
                runner.mutations());
        // the drop counters, the tc line, then the two ip lines forced: each runs even if one before it failed
        assertEquals(List.of("tc -s -j filter show dev tap0_jk ingress", "tc qdisc del dev eth0 ingress",
                "ip -force -batch -"), runner.processes.stream().map(c -> String.join(" ", c.subList(2, c.size())))
                .toList());
    }

    @Test
    void aFailingBatchLineIsNamedAndATeardownRunsEveryLine() throws IOException {
        Path netns = netnsFile();
        FakeRunner runner = new FakeRunner();
        runner.failOn = "tc qdisc add dev tap0_jk";
        var e = assertThrows(RuntimeStatusException.class, () -> PodNetwork.setUp(
                spec("[{\"type\":\"network\",\"path\":\"" + netns + "\"}]"), runner));
        assertTrue(e.getMessage().contains("/usr/bin/nsenter --net=" + netns + " tc qdisc add dev tap0_jk ingress "
                + "(line 3 of a batch of "), e.getMessage());
        assertFalse(runner.mutations().stream().anyMatch(c -> c.startsWith("tc filter add dev tap0_jk")),
                "the batch stopped at the failing line: " + runner.mutations());

        // A teardown whose first line fails still removes the rest.
        runner.failOn = "ip link del dev tap0_jk";
        PodNetwork torn = PodNetwork.setUp(spec("[{\"type\":\"network\",\"path\":\"" + netns + "\"}]"), runner);
        runner.commands.clear();
        torn.close();
        assertEquals(List.of("tc qdisc del dev eth0 ingress", "ip link del dev tap0_jk", "ip link del dev drop_jk"),
                runner.mutations());
    }

    @Test
    void hostNetworkIsRefused() {
        var e = assertThrows(RuntimeStatusException.class,
                () -> PodNetwork.setUp(spec("[{\"type\":\"pid\"}]"), new FakeRunner()));
        assertEquals(Code.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("host's network") && e.getMessage().contains("cannot share"),
                e.getMessage());
    }

    @Test
    void theHostsOwnNamespaceIsRefusedBeforeAnyCommand() {
        FakeRunner runner = new FakeRunner();
        var e = assertThrows(RuntimeStatusException.class,
                () -> PodNetwork.setUp(spec("[{\"type\":\"network\",\"path\":\"/proc/self/ns/net\"}]"), runner));
        assertTrue(e.getMessage().contains("host's own network namespace"), e.getMessage());
        assertEquals(List.of(), runner.commands);
    }

    @Test
    void aNamespaceWithoutAPathMeansNoNic() throws IOException {
        FakeRunner runner = new FakeRunner();
        PodNetwork network = PodNetwork.setUp(spec("[{\"type\":\"network\"}]"), runner);
        assertTrue(network.netns().isEmpty());
        assertEquals(List.of(), network.interfaces());
        assertEquals(List.of(), runner.commands);
        network.close();
    }

    @Test
    void aMissingNamespaceFileIsAClearError() {
        var e = assertThrows(RuntimeStatusException.class, () -> PodNetwork.setUp(
                spec("[{\"type\":\"network\",\"path\":\"/var/run/netns/jk-none\"}]"), new FakeRunner()));
        assertEquals(Code.INVALID_ARGUMENT, e.code());
        assertEquals("linux.namespaces network path /var/run/netns/jk-none: no such network namespace file",
                e.getMessage());
    }

    @Test
    void aNamespaceWithOnlyLoopbackOrANonEthernetDeviceIsRefused() throws IOException {
        Path netns = netnsFile();
        FakeRunner runner = new FakeRunner();
        runner.addr = "[{\"ifname\":\"lo\",\"link_type\":\"loopback\",\"address\":\"00:00:00:00:00:00\"}]";
        String ns = "[{\"type\":\"network\",\"path\":\"" + netns + "\"}]";
        var none = assertThrows(RuntimeStatusException.class, () -> PodNetwork.setUp(spec(ns), runner));
        assertTrue(none.getMessage().contains("has no interface besides lo"), none.getMessage());
        runner.addr = "[{\"ifname\":\"tun0\",\"link_type\":\"none\",\"mtu\":1500}]";
        var tun = assertThrows(RuntimeStatusException.class, () -> PodNetwork.setUp(spec(ns), runner));
        assertEquals(Code.INVALID_ARGUMENT, tun.code());
        assertTrue(tun.getMessage().startsWith("pod interface tun0: link type none"), tun.getMessage());
        assertTrue(runner.mutations().isEmpty(), runner.mutations().toString());
    }

    @Test
    void aFailingStepUndoesWhatWasDone() throws IOException {
        Path netns = netnsFile();
        FakeRunner runner = new FakeRunner();
        runner.failOn = "tc filter add dev eth0";
        var e = assertThrows(RuntimeStatusException.class, () -> PodNetwork.setUp(
                spec("[{\"type\":\"network\",\"path\":\"" + netns + "\"}]"), runner));
        assertEquals(Code.INTERNAL, e.code());
        assertTrue(e.getMessage().contains("Operation not supported"), e.getMessage());
        List<String> done = runner.mutations();
        assertEquals(List.of("tc qdisc del dev eth0 ingress", "ip link del dev tap0_jk", "ip link del dev drop_jk"),
                done.subList(done.size() - 3, done.size()));
    }
}
