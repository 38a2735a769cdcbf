package io.javakata.sys;

import static io.javakata.sys.IpCommand.ip;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Against the kernel, in network namespaces made with {@code ip netns add} (the tests run as root), each with a veth
 * pair: what the requests change is read back with iproute2.
 */
@Timeout(60)
class RouteNetlinkTest {

    private String pod;
    private String other;

    @BeforeEach
    void addNamespaces() throws Exception {
        String suffix = UUID.randomUUID().toString().substring(0, 8);
        pod = "jk-nl-" + suffix;
        other = "jk-nl2-" + suffix;
        ip("netns", "add", pod);
        ip("netns", "add", other);
        ip("-n", pod, "link", "add", "v0", "type", "veth", "peer", "name", "v1");
        ip("-n", pod, "link", "set", "v1", "up");
    }

    @AfterEach
    void deleteNamespaces() throws Exception {
        ip("netns", "del", pod);
        ip("netns", "del", other);
    }

    /** What ConfigureNetwork makes of a pod's NIC: the name, MTU, addresses, link state and routes ip shows. */
    @Test
    void configuresALinkAsIpWould() throws Exception {
        try (RouteNetlink netlink = RouteNetlink.openIn(netns(pod))) {
            netlink.setUp(netlink.linkIndex("lo"));
            int index = netlink.linkIndex("v0");
            netlink.rename(index, "eth7");
            assertEquals(index, netlink.linkIndex("eth7"));
            netlink.setMtu(index, 1400);
            netlink.addAddress(index, InetAddress.ofLiteral("10.77.0.5"), 24);
            netlink.addAddress(index, InetAddress.ofLiteral("fd00:77::5"), 64);
            netlink.setUp(index);
            netlink.addRoute(RouteNetlink.AF_INET, null, 0, InetAddress.ofLiteral("10.77.0.1"), index, null);
            netlink.addRoute(RouteNetlink.AF_INET, InetAddress.ofLiteral("10.99.0.0"), 24,
                    InetAddress.ofLiteral("10.77.0.254"), index, InetAddress.ofLiteral("10.77.0.5"));
            netlink.addRoute(RouteNetlink.AF_INET, InetAddress.ofLiteral("10.98.0.0"), 16, null, index, null);
            netlink.addRoute(RouteNetlink.AF_INET6, null, 0, InetAddress.ofLiteral("fd00:77::1"), index, null);
        }
        String link = ip("-n", pod, "-o", "link", "show", "eth7");
        assertTrue(link.contains("mtu 1400") && link.contains("UP"), link);
        assertTrue(ip("-n", pod, "-o", "link", "show", "lo").contains("UP"));
        String addresses = ip("-n", pod, "-o", "addr", "show", "dev", "eth7");
        assertTrue(addresses.contains("inet 10.77.0.5/24") && addresses.contains("inet6 fd00:77::5/64"), addresses);
        String routes = ip("-n", pod, "-4", "route", "show");
        assertTrue(routes.contains("default via 10.77.0.1 dev eth7"), routes);
        assertTrue(routes.contains("10.99.0.0/24 via 10.77.0.254 dev eth7 src 10.77.0.5"), routes);
        assertTrue(routes.contains("10.98.0.0/16 dev eth7 scope link"), routes);
        String routes6 = ip("-n", pod, "-6", "route", "show");
        assertTrue(routes6.contains("default via fd00:77::1 dev eth7"), routes6);
        // The caller's own namespace saw none of it.
        assertTrue(!ip("-o", "link", "show").contains("eth7"));
    }

    /** A link moved to the namespace of a process that lives in another one. */
    @Test
    void movesALinkIntoTheNetnsOfAProcess() throws Exception {
        Process holder = new ProcessBuilder("ip", "netns", "exec", other, "sleep", "60").start();
        try {
            Path holderNetns = Path.of("/proc", Long.toString(holder.pid()), "ns", "net");
            long wanted = (Long) java.nio.file.Files.getAttribute(netns(other), "unix:ino");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while ((Long) java.nio.file.Files.getAttribute(holderNetns, "unix:ino") != wanted) {
                assertTrue(System.nanoTime() < deadline, "ip netns exec did not enter " + other + " within 10 s");
                Thread.onSpinWait();
            }
            try (RouteNetlink netlink = RouteNetlink.openIn(netns(pod))) {
                netlink.moveToNetnsOf(netlink.linkIndex("v1"), (int) holder.pid());
                assertEquals(19, assertThrows(ErrnoException.class, () -> netlink.linkIndex("v1")).errno());
            }
            assertTrue(ip("-n", other, "-o", "link", "show", "v1").contains("v1"));
        } finally {
            holder.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
    }

    /** A refusal names the request and the kernel's errno; the socket goes on answering later requests. */
    @Test
    void aRefusedRequestNamesItselfAndTheErrno() throws Exception {
        try (RouteNetlink netlink = RouteNetlink.openIn(netns(pod))) {
            var missing = assertThrows(ErrnoException.class, () -> netlink.linkIndex("nope0"));
            assertEquals("rtnetlink find link nope0 failed: errno 19 ENODEV (No such device)", missing.getMessage());
            int index = netlink.linkIndex("v0");
            netlink.addAddress(index, InetAddress.ofLiteral("10.77.0.5"), 24);
            var twice = assertThrows(ErrnoException.class,
                    () -> netlink.addAddress(index, InetAddress.ofLiteral("10.77.0.5"), 24));
            assertEquals(17, twice.errno());
            assertTrue(twice.getMessage().startsWith("rtnetlink add address 10.77.0.5/24 to link " + index
                    + " failed: errno 17 EEXIST"), twice.getMessage());
            netlink.setUp(index);
        }
        assertTrue(ip("-n", pod, "-o", "link", "show", "v0").contains("UP"));
    }

    @Test
    void aClosedSocketRefusesRequests() throws Exception {
        RouteNetlink netlink = RouteNetlink.openIn(netns(pod));
        netlink.close();
        netlink.close();
        var e = assertThrows(IOException.class, () -> netlink.linkIndex("lo"));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
    }

    /** struct nlmsghdr, struct ifinfomsg and a NUL-terminated IFLA_IFNAME padded to 4 bytes. */
    @Test
    void aRequestsLayout() {
        byte[] message = RouteNetlink.getLink(7, "eth0");
        ByteBuffer b = ByteBuffer.wrap(message).order(ByteOrder.nativeOrder());
        assertEquals(16 + 16 + 12, message.length);
        assertEquals(message.length, b.getInt(0));
        assertEquals(RouteNetlink.RTM_GETLINK, b.getShort(4));
        assertEquals(RouteNetlink.NLM_F_REQUEST, b.getShort(6));
        assertEquals(7, b.getInt(8));
        assertEquals(9, b.getShort(32));
        assertEquals(RouteNetlink.IFLA_IFNAME, b.getShort(34));
        assertArrayEquals(new byte[] {'e', 't', 'h', '0', 0, 0, 0, 0}, java.util.Arrays.copyOfRange(message, 36, 44));
    }

    /** An answer with another sequence number is skipped; a malformed one is an error, not a loop. */
    @Test
    void answersAreMatchedBySequence() throws IOException {
        ByteBuffer ack = ByteBuffer.allocate(36).order(ByteOrder.nativeOrder());
        ack.putInt(36).putShort(RouteNetlink.NLMSG_ERROR).putShort((short) 0).putInt(5).putInt(0).putInt(0);
        assertNull(RouteNetlink.answerTo(ack.array(), 6, "x"));
        assertEquals(0, RouteNetlink.answerTo(ack.array(), 5, "x").length);
        ack.putInt(0, 8);
        var e = assertThrows(IOException.class, () -> RouteNetlink.answerTo(ack.array(), 5, "x"));
        assertTrue(e.getMessage().contains("malformed"), e.getMessage());
    }

    private static Path netns(String name) {
        return Path.of("/var/run/netns", name);
    }
}
