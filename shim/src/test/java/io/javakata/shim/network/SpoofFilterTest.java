package io.javakata.shim.network;

import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class SpoofFilterTest {

    private static final Path NETNS = Path.of("/run/netns/cni-1");
    private static final String MAC = "match u32 0x0a580a58 0xffffffff at -8 match u16 0x0005 0xffff at -4";
    private static final String SINK = "action mirred egress redirect dev drop_jk";
    private static final String POD = "action mirred egress redirect dev eth0";

    private static List<String> rules(PodInterface pod) {
        return SpoofFilter.filters(NETNS, "tap0_jk", pod).stream().map(c -> {
            assertEquals(List.of("/usr/bin/nsenter", "--net=" + NETNS), c.subList(0, 2));
            return String.join(" ", c.subList(2, c.size()));
        }).toList();
    }

    private static String ip6(int offset, String address) throws Exception {
        byte[] bytes = InetAddress.getByName(address).getAddress();
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < 16; i += 4) {
            out.append(i == 0 ? "" : " ").append("match u32 0x").append(HexFormat.of().formatHex(bytes, i, i + 4))
                    .append(" 0xffffffff at ").append(offset + i);
        }
        return out.toString();
    }

    @Test
    void theLinkLocalAddressIsTheModifiedEui64OfTheMac() throws Exception {
        assertEquals(InetAddress.getByName("fe80::858:aff:fe58:5"),
                InetAddress.getByAddress(SpoofFilter.linkLocal(HexFormat.of().parseHex("0a580a580005"))));
    }

    @Test
    void denialsFirstThenThePodsOwnAddressesThenTheSink() throws Exception {
        String head = "tc filter add dev tap0_jk parent ffff: protocol ";
        String icmp6 = "match u8 0x3a 0xff at 6 match u8 0x";
        String ll = "fe80::858:aff:fe58:5";
        assertEquals(List.of(
                head + "ipv6 prio 1 u32 " + icmp6 + "86 0xff at 40 " + SINK,
                head + "ipv6 prio 2 u32 " + icmp6 + "89 0xff at 40 " + SINK,
                head + "ipv6 prio 3 u32 " + MAC + " " + ip6(8, ll) + " " + icmp6 + "88 0xff at 40 " + ip6(48, ll) + " " + POD,
                head + "ipv6 prio 4 u32 " + MAC + " " + ip6(8, "fd00::5") + " " + icmp6 + "88 0xff at 40 "
                        + ip6(48, "fd00::5") + " " + POD,
                head + "ipv6 prio 5 u32 " + icmp6 + "88 0xff at 40 " + SINK,
                head + "ipv6 prio 6 u32 " + MAC + " " + ip6(8, "::") + " match u8 0x3a 0xff at 6 " + POD,
                head + "ipv6 prio 7 u32 " + MAC + " " + ip6(8, "::") + " match u8 0x00 0xff at 6 " + POD,
                head + "ipv6 prio 8 u32 " + MAC + " " + ip6(8, ll) + " " + POD,
                head + "ipv6 prio 9 u32 " + MAC + " " + ip6(8, "fd00::5") + " " + POD,
                head + "arp prio 10 u32 " + MAC + " match u32 0x00010800 0xffffffff at 0 match u16 0x0604 0xffff at 4 "
                        + "match u32 0x0a580a58 0xffffffff at 8 match u16 0x0005 0xffff at 12 "
                        + "match u16 0x0a58 0xffff at 14 match u16 0x0005 0xffff at 16 " + POD,
                head + "ip prio 11 u32 " + MAC + " match u32 0x0a580005 0xffffffff at 12 " + POD,
                head + "all prio 12 u32 match u32 0 0 " + SINK),
                rules(new PodInterface("eth0", "0a:58:0a:58:00:05", 1500, List.of("10.88.0.5/16", "fd00::5/64"))));
    }

    @Test
    void anInterfaceWithoutAddressesCarriesAnyFrameOfThePodMacButNoRouterAdvertisement() {
        List<String> rules = rules(new PodInterface("eth0", "0a:58:0a:58:00:05", 1500, List.of()));
        assertEquals("tc filter add dev tap0_jk parent ffff: protocol ipv6 prio 1 u32 match u8 0x3a 0xff at 6 "
                + "match u8 0x86 0xff at 40 " + SINK, rules.get(0));
        assertEquals(List.of("tc filter add dev tap0_jk parent ffff: protocol all prio 8 u32 " + MAC + " " + POD,
                        "tc filter add dev tap0_jk parent ffff: protocol all prio 9 u32 match u32 0 0 " + SINK),
                rules.subList(rules.size() - 2, rules.size()));
    }

    @Test
    void theDroppedCountSumsTheActionsRedirectingToTheSink() {
        String json = """
                [{"parent":"ffff:","protocol":"ipv6","pref":1,"kind":"u32","chain":0},
                 {"parent":"ffff:","protocol":"ipv6","pref":1,"kind":"u32","options":{"fh":"800::800","actions":[
                   {"kind":"mirred","to_dev":"drop_jk","stats":{"bytes":90,"packets":1,"overlimits":1}}]}},
                 {"parent":"ffff:","protocol":"ip","pref":11,"kind":"u32","options":{"fh":"801::800","actions":[
                   {"kind":"mirred","to_dev":"eth0","stats":{"bytes":9000,"packets":100}}]}},
                 {"parent":"ffff:","protocol":"all","pref":12,"kind":"u32","options":{"fh":"802::800","actions":[
                   {"kind":"mirred","to_dev":"drop_jk","stats":{"bytes":176,"packets":3,"overlimits":3}}]}}]
                """;
        assertEquals(4, SpoofFilter.dropped(json));
    }
}
