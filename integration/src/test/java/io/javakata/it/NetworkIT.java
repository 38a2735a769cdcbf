package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.grpc.StatusRuntimeException;
import io.javakata.it.cri.v1.DNSConfig;
import io.javakata.it.cri.v1.PortForwardRequest;
import io.javakata.it.cri.v1.PortMapping;
import io.javakata.it.cri.v1.Protocol;
import io.javakata.it.cri.v1.StatusRequest;

/**
 * Issue 4: the VM sits on the pod's CNI network. A javakata pod serving HTTP (busybox httpd) and a
 * runc pod on the same bridge; the host reaches the javakata pod at its CRI IP and through a hostPort
 * (portmap), the pods reach each other and the host, the pod's DNS config resolves through a server
 * this test runs on the bridge address, CRI PortForward works through containerd's streaming server
 * (also for a port opened after the pod started), a CNI device javakata cannot mirror is refused without
 * leftovers (a pod on the host's network is refused in BadRequestIT), and teardown leaves no tap behind.
 */
@Tag("containerd")
@Tag("qemu")
@Tag("cri")
@Timeout(value = 400, unit = TimeUnit.SECONDS)
class NetworkIT {

    @RegisterExtension
    static final PrivateCri CRI = new PrivateCri();

    private static final Duration WAIT = Duration.ofSeconds(120);
    private static final int PORT = 8080;
    private static final int LATE_PORT = 8081;
    private static final String DNS_NAME = "web.jkit.test";
    private static final String DNS_ADDRESS = "192.0.2.42";

    private static Pod vm;
    private static Pod runc;
    private static String vmIp;
    private static String runcIp;
    /** The host's address on the CNI bridge: the pods' gateway. */
    private static String gateway;
    private static int hostPort;
    private static DnsResponder dns;

    @BeforeAll
    static void runPods() throws Exception {
        // The runc pod first: its CNI ADD creates the bridge and gives it the gateway address the DNS server binds.
        runc = CRI.runPod(CRI.podConfig("net-runc", b -> b), "runc");
        runcIp = runc.status().getNetwork().getIp();
        runc.run("web", "sh", "-c", "mkdir -p /www && echo hello-from-runc > /www/index.html && "
                + "httpd -f -p " + PORT + " -h /www & echo serving; sleep 3600");
        runc.awaitLog("web", l -> l.endsWith(" stdout F serving"), WAIT);
        gateway = runc.execOk(runc.containerIdOf("web"), "sh", "-c", "ip route | awk '/default/ {print $3}'").strip();
        dns = new DnsResponder(InetAddress.getByName(gateway), DNS_NAME, InetAddress.getByName(DNS_ADDRESS));
        hostPort = freePort();
        vm = CRI.runPod(CRI.podConfig("net-vm", b -> b
                .setDnsConfig(DNSConfig.newBuilder().addServers(gateway).addSearches("jkit.test").addOptions("ndots:2"))
                .addPortMappings(PortMapping.newBuilder().setProtocol(Protocol.TCP).setContainerPort(PORT).setHostPort(hostPort))),
                "javakata");
        vmIp = vm.status().getNetwork().getIp();
        vm.run("web", "sh", "-c", "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && "
                + "httpd -f -p " + PORT + " -h /www & echo serving; sleep 3600");
        vm.awaitLog("web", l -> l.endsWith(" stdout F serving"), WAIT);
    }

    @AfterAll
    static void teardown() {
        Teardown.closeAll(vm, runc, dns);
    }

    /** A TCP port nothing on the host listens on right now. */
    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    /** An HTTP GET of / from this JVM, retried while the server comes up; the body. */
    static String httpGet(String host, int port) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (true) {
            try (Socket socket = new Socket()) {
                socket.connect(new InetSocketAddress(host, port), 5000);
                socket.setSoTimeout(20000);
                OutputStream out = socket.getOutputStream();
                out.write(("GET / HTTP/1.0\r\nHost: " + host + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                out.flush();
                InputStream in = socket.getInputStream();
                String response = new String(in.readAllBytes(), StandardCharsets.UTF_8);
                return response.substring(response.indexOf("\r\n\r\n") + 4).strip();
            } catch (IOException e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(500);
            }
        }
    }

    static String run(String... argv) throws Exception {
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), String.join(" ", argv));
        return out;
    }

    private static Path netnsOf(Pod pod) throws IOException {
        return CRI.containerd().podNetns(pod.status().getNetwork().getIp());
    }

    @Test
    void theHostReachesTheWebServerInTheVmAtThePodIp() throws Exception {
        assertTrue(vmIp.startsWith("10.213."), vmIp);
        assertEquals("hello-from-net-vm", httpGet(vmIp, PORT));
    }

    @Test
    void theVmPodAndTheRuncPodReachEachOtherAndTheHost() throws Exception {
        String vmToRunc = vm.execOk(vm.containerIdOf("web"), "wget", "-q", "-O", "-", "http://" + runcIp + ":" + PORT + "/");
        assertEquals("hello-from-runc", vmToRunc.strip());
        String runcToVm = runc.execOk(runc.containerIdOf("web"), "wget", "-q", "-O", "-", "http://" + vmIp + ":" + PORT + "/");
        assertEquals("hello-from-net-vm", runcToVm.strip());
        // The host side of the bridge is the pod's gateway: the VM pinging it proves the route.
        String gateway = vm.execOk(vm.containerIdOf("web"), "sh", "-c", "ip route | awk '/default/ {print $3}'").strip();
        assertTrue(gateway.startsWith("10.213."), gateway);
        vm.execOk(vm.containerIdOf("web"), "ping", "-c", "1", "-W", "5", gateway);
    }

    @Test
    void theGuestInterfaceHasThePodsMacMtuAndAddress() throws Exception {
        Path netns = netnsOf(vm);
        String host = run("nsenter", "--net=" + netns, "ip", "-o", "link", "show", "eth0");
        String mac = host.replaceAll("(?s).*link/ether ([0-9a-f:]+).*", "$1");
        String guest = vm.execOk(vm.containerIdOf("web"), "ip", "-o", "addr", "show", "eth0");
        assertTrue(guest.contains(vmIp + "/"), guest);
        String guestLink = vm.execOk(vm.containerIdOf("web"), "ip", "-o", "link", "show", "eth0");
        assertTrue(guestLink.contains(mac), mac + " vs " + guestLink);
        String qdiscs = run("nsenter", "--net=" + netns, "tc", "filter", "show", "dev", "eth0", "ingress");
        assertTrue(qdiscs.contains("mirred") && qdiscs.contains("tap0_jk"), qdiscs);
    }

    @Test
    void containerdsPortForwardDialReachesTheGuestPort() throws Exception {
        // containerd 1.6's PortForward dials localhost:PORT inside the pod netns on the host.
        Path netns = netnsOf(vm);
        long deadline = System.nanoTime() + WAIT.toNanos();
        String out;
        do {
            out = run("nsenter", "--net=" + netns, "wget", "-q", "-O", "-", "http://127.0.0.1:" + PORT + "/");
        } while (!out.contains("hello-from-net-vm") && System.nanoTime() < deadline && sleep());
        assertEquals("hello-from-net-vm", out.strip());
    }

    private static boolean sleep() throws InterruptedException {
        Thread.sleep(500);
        return true;
    }

    @Test
    void thePodsDnsConfigResolvesThroughTheServerOnTheBridge() throws Exception {
        String web = vm.containerIdOf("web");
        String resolvConf = vm.execOk(web, "cat", "/etc/resolv.conf");
        assertTrue(resolvConf.contains("nameserver " + gateway + "\n"), resolvConf);
        assertTrue(resolvConf.contains("search jkit.test\n"), resolvConf);
        assertTrue(resolvConf.contains("options ndots:2\n"), resolvConf);
        String answer = vm.execOk(web, "nslookup", DNS_NAME);
        assertTrue(answer.contains("Address: " + DNS_ADDRESS), answer);
        // The query left the VM through the pod's network: the server saw it come from the pod IP.
        assertTrue(dns.queries().stream().anyMatch(q -> q.from().getHostAddress().equals(vmIp) && q.name().equals(DNS_NAME)),
                dns.queries().toString());
        // A name the server does not know is NXDOMAIN, not an answer made up on the way.
        var unknown = vm.execSync(web, Duration.ofSeconds(60), "nslookup", "nothing.jkit.test");
        assertTrue(unknown.getExitCode() != 0 && !unknown.getStdout().toStringUtf8().contains(DNS_ADDRESS),
                unknown.getStdout().toStringUtf8());
    }

    @Test
    void aHostPortThroughPortmapReachesTheWebServerInTheVm() throws Exception {
        assertEquals("hello-from-net-vm", httpGet(gateway, hostPort));
    }

    /** One CRI PortForward session to {@code port} of the VM pod: an HTTP/1.0 GET of / through the streaming server. */
    private static PortForwardStream.Result portForwardGet(int port) throws Exception {
        String url = CRI.cri().runtime().portForward(PortForwardRequest.newBuilder().setPodSandboxId(vm.id()).addPort(port).build())
                .getUrl();
        try (PortForwardStream stream = PortForwardStream.connect(url, port, Duration.ofSeconds(30))) {
            stream.send("GET / HTTP/1.0\r\nHost: localhost\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            return stream.awaitEnd(Duration.ofSeconds(60));
        }
    }

    private static PortForwardStream.Result awaitPortForward(int port, Predicate<PortForwardStream.Result> until) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (true) {
            PortForwardStream.Result result = portForwardGet(port);
            if (until.test(result) || System.nanoTime() > deadline) {
                return result;
            }
            Thread.sleep(1000);
        }
    }

    @Test
    void criPortForwardThroughTheStreamingServerReachesTheVm() throws Exception {
        PortForwardStream.Result result = awaitPortForward(PORT, r -> r.text().contains("hello-from-net-vm"));
        assertTrue(result.text().startsWith("HTTP/1.") && result.text().strip().endsWith("hello-from-net-vm"),
                result.text() + "\nerror channel: " + result.error());
        assertEquals("", result.error());
    }

    @Test
    void criPortForwardReachesAPortOpenedAfterThePodStarted() throws Exception {
        String web = vm.containerIdOf("web");
        // Not listening yet: the streaming server reports the failed dial on the error channel.
        PortForwardStream.Result before = portForwardGet(LATE_PORT);
        assertTrue(!before.text().contains("hello"), before.text());
        assertTrue(before.error().contains(Integer.toString(LATE_PORT)), "error channel: " + before.error());
        vm.execOk(web, "httpd", "-p", Integer.toString(LATE_PORT), "-h", "/www"); // daemonizes
        PortForwardStream.Result after = awaitPortForward(LATE_PORT, r -> r.text().contains("hello-from-net-vm"));
        assertTrue(after.text().strip().endsWith("hello-from-net-vm"), after.text() + "\nerror channel: " + after.error());
    }

    /** Waits until the CRI plugin's loaded CNI config (Status verbose, info "cniconfig") matches. */
    private static void awaitCniConfig(Predicate<String> until) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        String config = "";
        while (System.nanoTime() < deadline) {
            config = CRI.cri().runtime().status(StatusRequest.newBuilder().setVerbose(true).build()).getInfoOrDefault("cniconfig", "");
            if (until.test(config)) {
                return;
            }
            Thread.sleep(200);
        }
        throw new AssertionError("containerd did not load the expected CNI config within 30 s; it has: " + config);
    }

    @Test
    void aCniDeviceJavakataCannotMirrorIsRefusedWithNothingLeft() throws Exception {
        // CNI's host-device plugin moves a host tun device (link type none, no MAC) into the pod netns as eth0:
        // containerd accepts it (eth0 has an address); javakata cannot carry its frames to a virtio NIC.
        String device = "jkbad" + ProcessHandle.current().pid() % 100000;
        Path confDir = CRI.containerd().dir().resolve("cni/net.d");
        Path bad = confDir.resolve("05-jkit-bad.conflist"); // sorts before the bridge config: containerd loads one
        run("ip", "tuntap", "add", "dev", device, "mode", "tun");
        try {
            Files.writeString(bad, """
                    {"cniVersion": "1.0.0", "name": "jkit-bad", "plugins": [
                      {"type": "host-device", "device": "%s",
                       "ipam": {"type": "static", "addresses": [{"address": "10.254.0.2/24"}]}}]}
                    """.formatted(device));
            awaitCniConfig(c -> c.contains(device));
            List<String> leaksBefore = CRI.containerd().leaks();
            List<Long> qemusBefore = CRI.containerd().processes("qemu-system");
            var e = assertThrows(StatusRuntimeException.class, () -> CRI.runPod(CRI.podConfig("net-bad", b -> b), "javakata"));
            assertTrue(e.getMessage().contains("pod interface eth0: link type none")
                    && e.getMessage().contains("javakata can only mirror Ethernet devices"), e.getMessage());
            // Nothing of the failed pod is left: no QEMU, no mount, no sandbox state, no netns (and so no tap in
            // one); CNI DEL gave the device back to the host.
            assertEquals(qemusBefore, CRI.containerd().processes("qemu-system"));
            // The failed pod's shim exits a moment after containerd's Shutdown: allow it that moment.
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            List<String> leaks = CRI.containerd().leaks();
            while (!leaks.equals(leaksBefore) && System.nanoTime() < deadline) {
                Thread.sleep(200);
                leaks = CRI.containerd().leaks();
            }
            assertEquals(leaksBefore, leaks);
            assertTrue(run("ip", "-o", "link", "show", "dev", device).contains(device + ":"));
        } finally {
            Files.deleteIfExists(bad);
            awaitCniConfig(c -> !c.contains(device) && c.contains("jkit-"));
            run("ip", "link", "del", "dev", device);
        }
    }

    /** A pod of its own, so that the pods the other tests share stay up whatever order the tests run in. */
    @Test
    void teardownLeavesNoTapBehind() throws Exception {
        Pod pod = CRI.runPod(CRI.podConfig("net-teardown", b -> b), "javakata");
        Path netns;
        try {
            netns = netnsOf(pod);
            assertTrue(run("nsenter", "--net=" + netns, "ip", "-o", "link").contains("tap0_jk"),
                    "the running pod has its tap");
        } finally {
            pod.close();
        }
        // CNI removes the netns afterwards; if it is still there, it must hold no tap.
        if (Files.exists(netns)) {
            String links = run("nsenter", "--net=" + netns, "ip", "-o", "link");
            assertTrue(!links.contains("tap0_jk"), links);
        }
        List<String> hostTaps = List.of(run("ip", "-o", "link").split("\n")).stream().filter(l -> l.contains("tap0_jk")).toList();
        assertEquals(List.of(), hostTaps);
    }
}
