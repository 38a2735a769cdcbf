package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.javakata.it.cri.v1.Capability;

/**
 * Issue 7 (the guest is hostile), items 5 and 6, through CRI: a javakata pod whose container holds
 * NET_ADMIN and NET_RAW (what a privileged container has for this) in the pod's network namespace in
 * the guest.
 * <ul>
 *   <li>It adds a foreign address and changes its MAC and sends ARP and ICMP to the gateway: nothing
 *       of that leaves the pod's veth (the bridge's forwarding database never learns the foreign MAC,
 *       the host never gets a neighbour entry for the foreign address, the shim's tc sink counted the
 *       frames), while the pod's own traffic still flows.</li>
 *   <li>Another container listens on 120 TCP ports: the shim listens for port forwarding on exactly 64 of
 *       them in the pod's netns on the host, and stays there.</li>
 * </ul>
 */
@Tag("containerd")
@Tag("qemu")
@Tag("cri")
@Timeout(value = 400, unit = TimeUnit.SECONDS)
class HostileGuestIT {

    @RegisterExtension
    static final PrivateCri CRI = new PrivateCri();

    private static final Duration WAIT = Duration.ofSeconds(120);
    /** PortForwarder.MAX_PORTS in the shim. */
    private static final int MAX_FORWARDED_PORTS = 64;
    private static final String SPOOFED_MAC = "02:6a:6b:00:00:99";
    private static final ObjectMapper JSON = new ObjectMapper();

    private static Pod pod;
    private static String attacker;
    private static String podIp;
    private static String gateway;
    private static String bridge;
    private static Path netns;

    @BeforeAll
    static void runPod() throws Exception {
        pod = CRI.runPod("hostile");
        podIp = pod.status().getNetwork().getIp();
        attacker = pod.run("attacker", b -> {
            b.getLinuxBuilder().getSecurityContextBuilder()
                    .setCapabilities(Capability.newBuilder().addAddCapabilities("NET_ADMIN").addAddCapabilities("NET_RAW"));
            return b;
        }, "sh", "-c", "echo ready; sleep 3600");
        pod.awaitLog("attacker", l -> l.endsWith(" stdout F ready"), WAIT);
        gateway = pod.execOk(attacker, "sh", "-c", "ip route | awk '/default/ {print $3}'").strip();
        bridge = bridgeHolding(gateway);
        netns = CRI.containerd().podNetns(podIp);
    }

    @AfterAll
    static void teardown() {
        if (pod != null) {
            pod.close();
        }
    }

    @Test
    void aForeignAddressOrMacNeverLeavesThePodVeth() throws Exception {
        String spoofedIp = podIp.substring(0, podIp.lastIndexOf('.')) + ".250";
        String mac = pod.execOk(attacker, "cat", "/sys/class/net/eth0/address").strip();
        pod.execOk(attacker, "ping", "-c", "1", "-W", "10", gateway);
        long droppedBefore = droppedByTheShim();

        // A foreign address on the pod's NIC: ARP (the host has no entry for it yet) and ICMP from it.
        pod.execOk(attacker, "ip", "addr", "add", spoofedIp + "/32", "dev", "eth0");
        pod.execSync(attacker, Duration.ofSeconds(30), "arping", "-c", "3", "-w", "5", "-I", "eth0", "-s", spoofedIp,
                gateway);
        pod.execSync(attacker, Duration.ofSeconds(30), "ping", "-c", "2", "-W", "3", "-I", spoofedIp, gateway);
        pod.execOk(attacker, "ip", "addr", "del", spoofedIp + "/32", "dev", "eth0");

        // Another MAC with the pod's own address: the ARP request for the gateway and the ping carry it.
        pod.execOk(attacker, "sh", "-c", "ip neigh flush dev eth0; ip link set eth0 address " + SPOOFED_MAC);
        pod.execSync(attacker, Duration.ofSeconds(30), "ping", "-c", "2", "-W", "3", gateway);
        pod.execOk(attacker, "sh", "-c", "ip link set eth0 address " + mac + "; ip neigh flush dev eth0");

        // The pod's own traffic still flows.
        pod.execOk(attacker, "ping", "-c", "1", "-W", "10", gateway);

        String neighbours = run("ip", "neigh", "show", "dev", bridge);
        assertFalse(neighbours.lines().anyMatch(l -> l.startsWith(spoofedIp + " ") && l.contains("lladdr")),
                "the host never learnt the foreign address: " + neighbours);
        assertFalse(neighbours.contains(SPOOFED_MAC), "nor the foreign MAC: " + neighbours);
        assertTrue(neighbours.lines().anyMatch(l -> l.startsWith(podIp + " ") && l.contains(mac)),
                "the pod's own address and MAC are known: " + neighbours);
        String fdb = run("bridge", "fdb", "show", "br", bridge);
        assertFalse(fdb.contains(SPOOFED_MAC), "the bridge never saw a frame from the foreign MAC: " + fdb);
        assertTrue(fdb.contains(mac), "the bridge knows the pod's MAC: " + fdb);
        long dropped = droppedByTheShim() - droppedBefore;
        assertTrue(dropped >= 5, "the shim's tc sink counted the spoofed frames: " + dropped);
    }

    @Test
    void aGuestListeningOnManyPortsGetsAtMostTheBoundForwarded() throws Exception {
        // A container that listens on 120 ports (one busybox nc each), then tells how many it has.
        pod.run("listener", "sh", "-c", "for p in $(seq 30000 30119); do nc -l -p $p </dev/null >/dev/null 2>&1 & "
                + "done; while [ $(netstat -ltn | grep -c ':30[01][0-9][0-9] ') -lt 120 ]; do sleep 1; done; "
                + "echo listening on $(netstat -ltn | grep -c ':30[01][0-9][0-9] '); sleep 3600");
        pod.awaitLog("listener", l -> l.endsWith(" stdout F listening on 120"), WAIT);
        long deadline = System.nanoTime() + WAIT.toNanos();
        Set<Integer> forwarded = forwardedPorts();
        while (forwarded.size() < MAX_FORWARDED_PORTS && System.nanoTime() < deadline) {
            Thread.sleep(200);
            forwarded = forwardedPorts();
        }
        assertEquals(MAX_FORWARDED_PORTS, forwarded.size(), "ports the shim listens on: " + forwarded);
        // The agent keeps reporting all 120; over several of its long polls the count stays at the bound.
        long watch = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        while (System.nanoTime() < watch) {
            Set<Integer> now = forwardedPorts();
            assertEquals(MAX_FORWARDED_PORTS, now.size(), "the bound holds: " + now);
            Thread.sleep(500);
        }
    }

    /** Ports in 30000..30119 listened on in the pod's netns on the host (127.0.0.1 or ::1). */
    private static Set<Integer> forwardedPorts() throws Exception {
        Set<Integer> ports = new TreeSet<>();
        for (String table : List.of("/proc/net/tcp", "/proc/net/tcp6")) {
            for (String line : run("nsenter", "--net=" + netns, "cat", table).lines().skip(1).toList()) {
                String[] fields = line.strip().split("\\s+");
                int port = Integer.parseInt(fields[1].substring(fields[1].indexOf(':') + 1), 16);
                if (fields[3].equals("0A") && port >= 30000 && port < 30120) {
                    ports.add(port);
                }
            }
        }
        return ports;
    }

    /** Frames the shim's tc filters on the pod's tap sent to their sink (see the shim's SpoofFilter). */
    private static long droppedByTheShim() throws Exception {
        long dropped = 0;
        for (JsonNode filter : JSON.readTree(run("nsenter", "--net=" + netns, "tc", "-s", "-j", "filter", "show",
                "dev", "tap0_jk", "ingress"))) {
            for (JsonNode action : filter.path("options").path("actions")) {
                if (action.path("to_dev").asText("").equals("drop_jk")) {
                    dropped += action.path("stats").path("packets").asLong();
                }
            }
        }
        return dropped;
    }

    /** The host interface holding {@code address}: the CNI bridge for the gateway. */
    private static String bridgeHolding(String address) throws Exception {
        for (JsonNode link : JSON.readTree(run("ip", "-j", "-4", "addr", "show"))) {
            for (JsonNode info : link.path("addr_info")) {
                if (info.path("local").asText("").equals(address)) {
                    return link.path("ifname").asText();
                }
            }
        }
        throw new IOException("no host interface holds " + address);
    }

    static String run(String... argv) throws Exception {
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), String.join(" ", argv));
        return out;
    }
}
