package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.grpc.StatusRuntimeException;
import io.javakata.it.cri.v1.LinuxSandboxSecurityContext;
import io.javakata.it.cri.v1.NamespaceMode;
import io.javakata.it.cri.v1.NamespaceOption;

/**
 * Issue 4: the VM sits on the pod's CNI network. A javakata pod serving HTTP (busybox httpd) and a
 * runc pod on the same bridge; the host reaches the javakata pod at its CRI IP, the pods reach each
 * other and the host, the port-forward path containerd uses (localhost:PORT in the pod netns)
 * answers, host networking is refused, and teardown leaves no tap behind.
 */
@Tag("containerd")
@Tag("qemu")
@Tag("cri")
@Timeout(value = 400, unit = TimeUnit.SECONDS)
@TestMethodOrder(MethodOrderer.MethodName.class)
class NetworkIT {

    @RegisterExtension
    static final PrivateCri CRI = new PrivateCri();

    private static final Duration WAIT = Duration.ofSeconds(120);
    private static final int PORT = 8080;

    private static Pod vm;
    private static Pod runc;
    private static String vmIp;
    private static String runcIp;

    @BeforeAll
    static void runPods() throws Exception {
        vm = CRI.runPod(CRI.podConfig("net-vm", b -> b), "javakata");
        vmIp = vm.status().getNetwork().getIp();
        vm.run("web", "sh", "-c", "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && "
                + "httpd -f -p " + PORT + " -h /www & echo serving; sleep 3600");
        vm.awaitLog("web", l -> l.endsWith(" stdout F serving"), WAIT);
        runc = CRI.runPod(CRI.podConfig("net-runc", b -> b), "runc");
        runcIp = runc.status().getNetwork().getIp();
        runc.run("web", "sh", "-c", "mkdir -p /www && echo hello-from-runc > /www/index.html && "
                + "httpd -f -p " + PORT + " -h /www & echo serving; sleep 3600");
        runc.awaitLog("web", l -> l.endsWith(" stdout F serving"), WAIT);
    }

    @AfterAll
    static void teardown() {
        if (vm != null) {
            vm.close();
        }
        if (runc != null) {
            runc.close();
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
        Path dir = CRI.containerd().dir().resolve("state/io.containerd.grpc.v1.cri/netns");
        // the pod's netns is the one holding its IP
        try (Stream<Path> files = Files.list(dir)) {
            for (Path ns : files.toList()) {
                try {
                    if (run("nsenter", "--net=" + ns, "ip", "-4", "addr").contains(pod.status().getNetwork().getIp() + "/")) {
                        return ns;
                    }
                } catch (Exception e) {
                    throw new IOException(e);
                }
            }
        }
        throw new IOException("no netns holds " + pod.status().getNetwork().getIp());
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
    void aHostNetworkPodIsRefusedWithAClearError() {
        var config = CRI.podConfig("net-host", b -> b.setLinux(b.getLinux().toBuilder().setSecurityContext(
                LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(NamespaceOption.newBuilder()
                        .setNetwork(NamespaceMode.NODE).setPid(NamespaceMode.CONTAINER).setIpc(NamespaceMode.POD)))));
        var e = assertThrows(StatusRuntimeException.class, () -> CRI.runPod(config, "javakata"));
        assertTrue(e.getMessage().contains("cannot share the host's network namespace"), e.getMessage());
    }

    @Test
    void zzTeardownLeavesNoTapBehind() throws Exception {
        Path netns = netnsOf(vm);
        vm.close();
        vm = null;
        // CNI removes the netns afterwards; if it is still there, it must hold no tap.
        if (Files.exists(netns)) {
            String links = run("nsenter", "--net=" + netns, "ip", "-o", "link");
            assertTrue(!links.contains("tap0_jk"), links);
        }
        List<String> hostTaps = List.of(run("ip", "-o", "link").split("\n")).stream().filter(l -> l.contains("tap0_jk")).toList();
        assertEquals(List.of(), hostTaps);
    }
}
