package io.javakata.shim.network;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.javakata.ttrpc.Errors;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * The iproute2 commands javakata runs in a pod's network namespace (each through
 * {@code nsenter --net=<netns>}), and the parsing of their JSON ({@code ip -j}) output.
 *
 * <p>The tap is mirrored to the pod interface as Kata's "tcfilter" model does: an ingress qdisc on
 * each, a u32 match-all filter redirecting every frame of the pod interface to the egress of the tap,
 * and on the tap the {@link SpoofFilter} filters, which redirect only the pod's own frames.
 */
final class Iproute2 {

    static final String NSENTER = "/usr/bin/nsenter";
    private static final ObjectMapper JSON = new ObjectMapper();

    private Iproute2() {
    }

    /** {@code nsenter --net=<netns> <command...>}. */
    static List<String> in(Path netns, String... command) {
        List<String> argv = new ArrayList<>(List.of(NSENTER, "--net=" + netns));
        argv.addAll(List.of(command));
        return List.copyOf(argv);
    }

    static List<String> showAddresses(Path netns) {
        return in(netns, "ip", "-j", "addr", "show");
    }

    static List<String> showLinks(Path netns) {
        return in(netns, "ip", "-j", "link", "show");
    }

    /** The interface names of {@code ip -j link show}. */
    static List<String> linkNames(String linkJson) {
        return array(linkJson, "ip -j link show").stream().map(link -> link.path("ifname").asText(""))
                .filter(name -> !name.isEmpty()).toList();
    }

    static List<String> showRoutes(Path netns, int family) {
        return in(netns, "ip", "-j", "-" + family, "route", "show");
    }

    /**
     * Creates the tap, matches the pod interface's MTU, brings it up and mirrors both ways: every frame
     * from the pod interface to the tap, and from the tap only what {@link SpoofFilter} lets through
     * (the sink it drops the rest into must exist).
     */
    static List<List<String>> mirrorSetup(Path netns, PodInterface pod, String tap) {
        List<List<String>> commands = new ArrayList<>(List.of(
                in(netns, "ip", "tuntap", "add", "dev", tap, "mode", "tap"),
                in(netns, "ip", "link", "set", "dev", tap, "mtu", Integer.toString(pod.mtu()), "up"),
                in(netns, "tc", "qdisc", "add", "dev", pod.name(), "ingress"),
                in(netns, "tc", "filter", "add", "dev", pod.name(), "parent", "ffff:", "protocol", "all",
                        "u32", "match", "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev", tap),
                in(netns, "tc", "qdisc", "add", "dev", tap, "ingress")));
        commands.addAll(SpoofFilter.filters(netns, tap, pod));
        return List.copyOf(commands);
    }

    /** Removes the pod interface's ingress qdisc (and its filter) and the tap (with its qdisc). */
    static List<List<String>> mirrorTeardown(Path netns, String podInterface, String tap) {
        return List.of(
                in(netns, "tc", "qdisc", "del", "dev", podInterface, "ingress"),
                in(netns, "ip", "link", "del", "dev", tap));
    }

    /**
     * The interfaces of {@code ip -j addr show} that the VM must carry: every one but loopback.
     * Each must be an Ethernet device with a MAC, because the guest NIC takes over its frames and
     * MAC; anything else (a tun, an ipip tunnel) is INVALID_ARGUMENT naming it.
     */
    static List<PodInterface> parseInterfaces(String addrJson) {
        List<PodInterface> interfaces = new ArrayList<>();
        for (JsonNode link : array(addrJson, "ip -j addr show")) {
            String name = link.path("ifname").asText("");
            String type = link.path("link_type").asText("");
            if (type.equals("loopback")) {
                continue;
            }
            String mac = link.path("address").asText("");
            if (!type.equals("ether") || !mac.matches("(?i)[0-9a-f]{2}(:[0-9a-f]{2}){5}")) {
                throw Errors.invalidArgument("pod interface %s: link type %s with address '%s': javakata can "
                        + "only mirror Ethernet devices (link type ether) into the VM", name, type, mac);
            }
            List<String> addresses = new ArrayList<>();
            for (JsonNode address : link.path("addr_info")) {
                if (address.path("scope").asText("").equals("link") || address.path("scope").asText("").equals("host")) {
                    continue;
                }
                addresses.add(address.path("local").asText() + "/" + address.path("prefixlen").asInt());
            }
            interfaces.add(new PodInterface(name, mac.toLowerCase(java.util.Locale.ROOT), link.path("mtu").asInt(1500),
                    addresses));
        }
        return List.copyOf(interfaces);
    }

    /**
     * The routes of {@code ip -j -4|-6 route show} the guest must add: all but the kernel's own
     * (connected subnets, made again when the guest adds the addresses), IPv6 link-local and
     * multicast routes, and routes through devices the VM does not carry.
     */
    static List<PodRoute> parseRoutes(String routeJson, int family, List<PodInterface> interfaces) {
        List<String> devices = interfaces.stream().map(PodInterface::name).toList();
        List<PodRoute> routes = new ArrayList<>();
        for (JsonNode route : array(routeJson, "ip -j route show")) {
            String dst = route.path("dst").asText("");
            String dev = route.path("dev").asText("");
            if (route.path("protocol").asText("").equals("kernel") || !devices.contains(dev) || dst.isEmpty()
                    || dst.startsWith("fe80:") || dst.startsWith("ff00:") || !route.path("type").asText("unicast")
                    .equals("unicast")) {
                continue;
            }
            routes.add(new PodRoute(dst, route.path("gateway").asText(""), dev, route.path("prefsrc").asText(""),
                    family));
        }
        return List.copyOf(routes);
    }

    private static List<JsonNode> array(String json, String what) {
        try {
            JsonNode tree = JSON.readTree(json);
            if (tree == null || !tree.isArray()) {
                throw Errors.internal("%s: expected a JSON array, got: %s", what, json.strip());
            }
            return Stream.iterate(0, i -> i < tree.size(), i -> i + 1).map(tree::get).toList();
        } catch (IOException e) {
            throw Errors.internal("%s: unreadable JSON: %s", what, e.getMessage());
        }
    }
}
