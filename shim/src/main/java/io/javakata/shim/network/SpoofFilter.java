package io.javakata.shim.network;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.javakata.ttrpc.Errors;
import java.io.IOException;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * What the guest may send through its tap: the tc filters on the tap's ingress that redirect a frame
 * to the pod interface only if it comes from the pod's MAC and, where CNI gave the interface
 * addresses, from one of them. Everything else goes to {@link #SINK} and is dropped there (and
 * counted). A hostile guest (a privileged container that changes its MAC or adds an address) thus
 * cannot impersonate another pod or the host on the pod network.
 *
 * <p>Only the u32 classifier and the mirred action are used, because that is all a kernel needs
 * for the mirror itself: the kernels javakata runs on here have neither {@code act_gact} (so no
 * {@code action drop}) nor flower or matchall. A frame is dropped by redirecting it to an IFB device
 * that stays down: mirred then answers TC_ACT_SHOT and counts the frame in its action's statistics
 * (net/sched/act_mirred.c, "device is down"). The kernel logs that, rate-limited.
 *
 * <p>Filters run in priority order and the first match wins, so the denials come first:
 * <ol>
 *   <li>ICMPv6 router advertisements (134) and redirects (137): a pod is no router;</li>
 *   <li>ICMPv6 neighbour advertisements (136) unless source and target are one of the pod's IPv6
 *       addresses (Linux answers from the target address, net/ipv6/ndisc.c {@code ndisc_send_na});</li>
 *   <li>from the pod MAC: IPv6 from :: that is ICMPv6 or begins with a hop-by-hop header (duplicate
 *       address detection, MLD reports: RFC 4862 §5.4.2, RFC 3810 §5), IPv6 from the pod's link-local
 *       address (EUI-64 of the MAC, RFC 4291 §2.5.6 / Appendix A) and global IPv6 addresses, ARP
 *       whose sender is the pod MAC and one of the pod's IPv4 addresses, IPv4 from those;</li>
 *   <li>an interface CNI gave no address at all carries any frame from the pod MAC;</li>
 *   <li>anything else: to the sink.</li>
 * </ol>
 * DHCP from the guest is not let through: the agent configures CNI's addresses statically.
 * Not covered (see docs/networking.md): the link-layer address options inside neighbour
 * solicitations, and VLAN tags (the kernel strips them before tc sees the frame).
 */
final class SpoofFilter {

    /** The IFB device, left down, that dropped frames are redirected to; one per pod netns. */
    static final String SINK = "drop_jk";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HexFormat HEX = HexFormat.of();

    private SpoofFilter() {
    }

    /** Creates the sink (down: mirred drops what is redirected to it). */
    static List<String> createSink(Path netns) {
        return Iproute2.in(netns, "ip", "link", "add", "name", SINK, "type", "ifb");
    }

    static List<String> deleteSink(Path netns) {
        return Iproute2.in(netns, "ip", "link", "del", "dev", SINK);
    }

    /** The filter commands for the ingress of {@code tap}, carrying {@code pod}'s frames (ingress qdisc exists). */
    static List<List<String>> filters(Path netns, String tap, PodInterface pod) {
        byte[] mac = HEX.parseHex(pod.mac().replace(":", ""));
        List<byte[]> v4 = new ArrayList<>();
        List<byte[]> v6 = new ArrayList<>(List.of(linkLocal(mac)));
        for (String cidr : pod.addresses()) {
            InetAddress address = parse(cidr);
            (address instanceof Inet4Address ? v4 : v6).add(address.getAddress());
        }
        List<Rule> rules = new ArrayList<>();
        rules.add(new Rule("ipv6", List.of(icmp6(0x86)), SINK));
        rules.add(new Rule("ipv6", List.of(icmp6(0x89)), SINK));
        for (byte[] own : v6) {
            rules.add(new Rule("ipv6", List.of(mac(mac), ip6At(8, own), icmp6(0x88), ip6At(48, own)), pod.name()));
        }
        rules.add(new Rule("ipv6", List.of(icmp6(0x88)), SINK));
        rules.add(new Rule("ipv6", List.of(mac(mac), ip6At(8, new byte[16]), "match u8 0x3a 0xff at 6"), pod.name()));
        rules.add(new Rule("ipv6", List.of(mac(mac), ip6At(8, new byte[16]), "match u8 0x00 0xff at 6"), pod.name()));
        for (byte[] own : v6) {
            rules.add(new Rule("ipv6", List.of(mac(mac), ip6At(8, own)), pod.name()));
        }
        for (byte[] own : v4) {
            rules.add(new Rule("arp", List.of(mac(mac), "match u32 0x00010800 0xffffffff at 0",
                    "match u16 0x0604 0xffff at 4", "match u32 0x" + HEX.formatHex(mac, 0, 4) + " 0xffffffff at 8",
                    "match u16 0x" + HEX.formatHex(mac, 4, 6) + " 0xffff at 12",
                    "match u16 0x" + HEX.formatHex(own, 0, 2) + " 0xffff at 14",
                    "match u16 0x" + HEX.formatHex(own, 2, 4) + " 0xffff at 16"), pod.name()));
            rules.add(new Rule("ip", List.of(mac(mac), "match u32 0x" + HEX.formatHex(own) + " 0xffffffff at 12"),
                    pod.name()));
        }
        if (pod.addresses().isEmpty()) {
            rules.add(new Rule("all", List.of(mac(mac)), pod.name()));
        }
        rules.add(new Rule("all", List.of("match u32 0 0"), SINK));
        List<List<String>> commands = new ArrayList<>();
        for (int i = 0; i < rules.size(); i++) {
            commands.add(rules.get(i).command(netns, tap, i + 1));
        }
        return commands;
    }

    /** {@code tc -s -j filter show dev <tap> ingress}. */
    static List<String> showStats(Path netns, String tap) {
        return Iproute2.in(netns, "tc", "-s", "-j", "filter", "show", "dev", tap, "ingress");
    }

    /** The frames the filters of {@link #showStats} output sent to the sink. */
    static long dropped(String statsJson) {
        long dropped = 0;
        try {
            for (JsonNode filter : JSON.readTree(statsJson)) {
                for (JsonNode action : filter.path("options").path("actions")) {
                    if (action.path("to_dev").asText("").equals(SINK)) {
                        dropped += action.path("stats").path("packets").asLong();
                    }
                }
            }
        } catch (IOException e) {
            throw Errors.internal("tc -s -j filter show: unreadable JSON: %s", e.getMessage());
        }
        return dropped;
    }

    /** fe80::/64 with the modified EUI-64 interface identifier of {@code mac} (RFC 4291 Appendix A). */
    static byte[] linkLocal(byte[] mac) {
        byte[] address = new byte[16];
        address[0] = (byte) 0xfe;
        address[1] = (byte) 0x80;
        address[8] = (byte) (mac[0] ^ 0x02);
        address[9] = mac[1];
        address[10] = mac[2];
        address[11] = (byte) 0xff;
        address[12] = (byte) 0xfe;
        address[13] = mac[3];
        address[14] = mac[4];
        address[15] = mac[5];
        return address;
    }

    private static InetAddress parse(String cidr) {
        String ip = cidr.contains("/") ? cidr.substring(0, cidr.indexOf('/')) : cidr;
        if (!ip.matches("[0-9a-fA-F:.]+")) {
            throw Errors.invalidArgument("pod interface address %s is not an IP address", cidr);
        }
        try {
            return InetAddress.getByName(ip); // a literal: no name lookup
        } catch (UnknownHostException e) {
            throw Errors.invalidArgument("pod interface address %s is not an IP address", cidr);
        }
    }

    /** The source MAC: frame bytes 6..11, i.e. 8..3 bytes before the network header u32 offsets count from. */
    private static String mac(byte[] mac) {
        return "match u32 0x" + HEX.formatHex(mac, 0, 4) + " 0xffffffff at -8 match u16 0x"
                + HEX.formatHex(mac, 4, 6) + " 0xffff at -4";
    }

    /** ICMPv6 (next header 58, no extension header: ND messages carry none) of one type. */
    private static String icmp6(int type) {
        return "match u8 0x3a 0xff at 6 match u8 0x" + HEX.toHexDigits((byte) type) + " 0xff at 40";
    }

    /** An IPv6 address at {@code offset} of the IPv6 packet (8: source, 48: an ND message's target). */
    private static String ip6At(int offset, byte[] address) {
        List<String> words = new ArrayList<>();
        for (int i = 0; i < 16; i += 4) {
            words.add("match u32 0x" + HEX.formatHex(address, i, i + 4) + " 0xffffffff at " + (offset + i));
        }
        return String.join(" ", words);
    }

    private record Rule(String protocol, List<String> matches, String target) {

        List<String> command(Path netns, String tap, int prio) {
            List<String> argv = new ArrayList<>(List.of("tc", "filter", "add", "dev", tap, "parent", "ffff:",
                    "protocol", protocol, "prio", Integer.toString(prio), "u32"));
            for (String match : matches) {
                argv.addAll(List.of(match.split(" ")));
            }
            argv.addAll(List.of("action", "mirred", "egress", "redirect", "dev", target));
            return Iproute2.in(netns, argv.toArray(String[]::new));
        }
    }
}
