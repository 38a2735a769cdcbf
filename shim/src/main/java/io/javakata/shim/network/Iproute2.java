package io.javakata.shim.network;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.javakata.ttrpc.Errors;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
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

    /** An argument iproute2's batch mode reads back as itself: it splits lines at white space, quotes and '#'. */
    private static final Pattern BATCH_WORD = Pattern.compile("[^\\s\"'#\\\\]+");
    /** The line of a batch that failed, as ip and tc report it reading from stdin ("Command failed -:3"). */
    private static final Pattern BATCH_FAILED = Pattern.compile("Command failed -:(\\d+)");

    /**
     * Runs {@code commands} (each as {@link #in} makes it) in order, in as few processes as iproute2 allows: each run
     * of consecutive {@code ip} or {@code tc} commands for one namespace goes to one {@code nsenter --net=<netns>
     * ip|tc -batch -}, a command per line of its stdin (ip(8), tc(8) "-batch"). A pod's setup is then 2 processes
     * instead of 16, each costing the shim a fork and two execs (~12 ms here). A command with an argument the batch
     * syntax would not read back as it is runs alone.
     *
     * @param force run every command even after one failed ({@code -force}; teardown), and throw the first failure
     *              at the end; else stop at the first
     * @throws IOException naming the failing command (the batch line iproute2 reports)
     */
    static void runBatched(CommandRunner runner, List<List<String>> commands, boolean force) throws IOException {
        IOException first = null;
        for (int i = 0; i < commands.size(); ) {
            List<String> head = commands.get(i);
            int end = i + 1;
            if (batchable(head)) {
                while (end < commands.size() && batchable(commands.get(end))
                        && commands.get(end).subList(0, 3).equals(head.subList(0, 3))) {
                    end++;
                }
            }
            List<List<String>> batch = commands.subList(i, end);
            try {
                if (batch.size() == 1) {
                    runner.run(head);
                } else {
                    runBatch(runner, batch, force);
                }
            } catch (IOException e) {
                if (!force) {
                    throw e;
                }
                first = first == null ? e : first;
            }
            i = end;
        }
        if (first != null) {
            throw first;
        }
    }

    private static void runBatch(CommandRunner runner, List<List<String>> batch, boolean force) throws IOException {
        List<String> argv = new ArrayList<>(batch.get(0).subList(0, 3));
        if (force) {
            argv.add("-force");
        }
        argv.addAll(List.of("-batch", "-"));
        StringBuilder lines = new StringBuilder();
        for (List<String> command : batch) {
            lines.append(String.join(" ", command.subList(3, command.size()))).append('\n');
        }
        try {
            runner.run(argv, lines.toString());
        } catch (IOException e) {
            Matcher failed = BATCH_FAILED.matcher(String.valueOf(e.getMessage()));
            if (failed.find()) {
                int line = Integer.parseInt(failed.group(1));
                if (line >= 1 && line <= batch.size()) {
                    throw new IOException(String.join(" ", batch.get(line - 1)) + " (line " + line + " of a batch of "
                            + batch.size() + "): " + e.getMessage(), e);
                }
            }
            throw e;
        }
    }

    /** {@code nsenter --net=<netns> ip|tc <object> ...} whose arguments a batch line carries unchanged. */
    private static boolean batchable(List<String> command) {
        return command.size() > 3 && command.get(0).equals(NSENTER) && command.get(1).startsWith("--net=")
                && (command.get(2).equals("ip") || command.get(2).equals("tc")) && !command.get(3).startsWith("-")
                && command.subList(3, command.size()).stream().allMatch(arg -> BATCH_WORD.matcher(arg).matches());
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
