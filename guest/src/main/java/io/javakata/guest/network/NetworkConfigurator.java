package io.javakata.guest.network;

import io.javakata.agent.v1.ConfigureNetworkRequest;
import io.javakata.agent.v1.NetworkInterface;
import io.javakata.agent.v1.NetworkRoute;
import io.javakata.ttrpc.Errors;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * Configures the pod's NICs in the guest over rtnetlink ({@link Links}): each interface is found by MAC under
 * /sys/class/net, renamed to the pod interface's name, given its MTU and addresses and brought up; then the routes
 * are added and the hostname set. With a {@code netns_pid} (the pod's sandbox container, whose network namespace the
 * pod's other containers join) each interface is first moved into that namespace and every later change is made
 * inside it, starting with {@code lo} up; as under runc, the pod's network is then the sandbox container's
 * namespace, not the guest's root one.
 *
 * <p>The request is checked whole before anything changes: an address, gateway or name that cannot be used is an
 * INVALID_ARGUMENT naming its field, and the guest's links are left as they were.
 */
public final class NetworkConfigurator {

    /** How long a NIC named in a request may take to appear (a hot-plugged one probes after the guest resumed). */
    static final java.time.Duration NIC_WAIT = java.time.Duration.ofSeconds(10);
    private static final long NIC_POLL_MILLIS = 20;
    /** IFNAMSIZ (include/uapi/linux/if.h) less the terminating NUL. */
    static final int MAX_NAME_BYTES = 15;
    private final java.time.Duration nicWait;

    private static final System.Logger LOG = System.getLogger(NetworkConfigurator.class.getName());

    private final Path sysClassNet;
    private final Path hostnameFile;
    private final Links.Opener links;

    /**
     * @param sysClassNet  /sys/class/net
     * @param hostnameFile /proc/sys/kernel/hostname
     * @param links        opens the changes for a network namespace ({@link RouteNetlinkLinks#open} in the guest)
     */
    public NetworkConfigurator(Path sysClassNet, Path hostnameFile, Links.Opener links) {
        this(sysClassNet, hostnameFile, links, NIC_WAIT);
    }

    /** @param nicWait how long a NIC named in a request may take to appear */
    NetworkConfigurator(Path sysClassNet, Path hostnameFile, Links.Opener links, java.time.Duration nicWait) {
        this.sysClassNet = sysClassNet;
        this.hostnameFile = hostnameFile;
        this.links = links;
        this.nicWait = nicWait;
    }

    /** One change, named for errors and tests ("eth0 mtu 1450"). */
    record Step(String what, Change change) {
    }

    @FunctionalInterface
    interface Change {
        void apply(Links links) throws IOException;
    }

    /**
     * Applies {@code request}: INVALID_ARGUMENT for a MAC no guest interface has or a value that cannot be used,
     * INTERNAL if the kernel refuses a change.
     */
    public void configure(ConfigureNetworkRequest request) {
        long start = System.nanoTime();
        int pid = request.getNetnsPid();
        List<Step> moves = new ArrayList<>();
        List<Step> steps = plan(request, moves);
        long found = System.nanoTime();
        if (!moves.isEmpty()) {
            apply(0, moves);
        }
        apply(pid, steps);
        if (!request.getHostname().isEmpty()) {
            try {
                Files.writeString(hostnameFile, request.getHostname());
            } catch (IOException e) {
                throw Errors.internal("set the guest hostname to %s: %s", request.getHostname(), e.getMessage());
            }
        }
        long done = System.nanoTime();
        LOG.log(System.Logger.Level.INFO, "network configured: {0} interfaces, {1} routes, hostname {2}, netns of pid {3}"
                        + " nics_found_millis={4} changes={5} changes_millis={6}",
                request.getInterfacesCount(), request.getRoutesCount(), request.getHostname(),
                pid > 0 ? Integer.toString(pid) : "agent", String.valueOf((found - start) / 1_000_000),
                String.valueOf(moves.size() + steps.size()), String.valueOf((done - found) / 1_000_000));
    }

    /** The changes of {@code request} in the pod's namespace, after the moves into it it adds to {@code moves}. */
    List<Step> plan(ConfigureNetworkRequest request, List<Step> moves) {
        int pid = request.getNetnsPid();
        List<Step> steps = new ArrayList<>();
        if (pid > 0) {
            steps.add(new Step("lo up", l -> l.setUp("lo")));
        }
        for (int i = 0; i < request.getInterfacesCount(); i++) {
            NetworkInterface nic = request.getInterfaces(i);
            String name = linkName(nic.getName(), "interfaces[%d].name", i);
            List<IpPrefix> addresses = new ArrayList<>();
            for (String address : nic.getAddressesList()) {
                addresses.add(parse(() -> IpPrefix.parse(address), "interfaces[%d].addresses=%s", i, address));
            }
            String current = awaitInterfaceWithMac(nic.getMac());
            String target = name == null ? current : name;
            if (pid > 0) {
                moves.add(new Step(current + " netns " + pid, l -> l.moveToNetnsOf(current, pid)));
            }
            if (!current.equals(target)) {
                steps.add(new Step(current + " name " + target, l -> l.rename(current, target)));
            }
            if (nic.getMtu() > 0) {
                steps.add(new Step(target + " mtu " + nic.getMtu(), l -> l.setMtu(target, nic.getMtu())));
            }
            for (IpPrefix address : addresses) {
                steps.add(new Step(target + " addr " + address, l -> l.addAddress(target, address)));
            }
            steps.add(new Step(target + " up", l -> l.setUp(target)));
        }
        for (int i = 0; i < request.getRoutesCount(); i++) {
            NetworkRoute r = request.getRoutes(i);
            IpPrefix destination = r.getDestination().isEmpty() || r.getDestination().equals("default") ? null
                    : parse(() -> IpPrefix.parse(r.getDestination()), "routes[%d].destination=%s", i,
                            r.getDestination());
            InetAddress gateway = r.getGateway().isEmpty() ? null
                    : parse(() -> IpPrefix.literal(r.getGateway()), "routes[%d].gateway=%s", i, r.getGateway());
            InetAddress source = r.getSource().isEmpty() ? null
                    : parse(() -> IpPrefix.literal(r.getSource()), "routes[%d].source=%s", i, r.getSource());
            String device = linkName(r.getDevice(), "routes[%d].device", i);
            Route route = parse(() -> new Route(r.getFamily(), destination, gateway, device, source), "routes[%d]", i);
            steps.add(new Step("route " + route, l -> l.addRoute(route)));
        }
        return steps;
    }

    private void apply(int pid, List<Step> steps) {
        try (Links opened = links.open(pid)) {
            apply(opened, steps);
        } catch (IOException e) {
            throw Errors.internal("configure the guest network: open rtnetlink in the %s: %s",
                    pid > 0 ? "network namespace of pid " + pid : "agent's network namespace", e.getMessage());
        }
    }

    private static void apply(Links links, List<Step> steps) {
        for (Step step : steps) {
            try {
                step.change().apply(links);
            } catch (IOException e) {
                throw Errors.internal("configure the guest network: %s: %s", step.what(), e.getMessage());
            }
        }
    }

    /**
     * A pod's request as {@link #rehearse} plans it: the link whose MAC is all zeroes ({@code lo}, the one link a
     * template VM has) renamed, given an MTU, an IPv4 and an IPv6 address, and routes of both families.
     */
    static final ConfigureNetworkRequest REHEARSAL = ConfigureNetworkRequest.newBuilder()
            .addInterfaces(NetworkInterface.newBuilder().setMac("00:00:00:00:00:00").setName("eth0").setMtu(1500)
                    .addAddresses("10.88.0.2/16").addAddresses("fd00::2/64"))
            .addRoutes(NetworkRoute.newBuilder().setDestination("default").setGateway("10.88.0.1").setDevice("eth0")
                    .setFamily(4))
            .addRoutes(NetworkRoute.newBuilder().setDestination("10.99.0.0/24").setDevice("eth0")
                    .setSource("10.88.0.2").setFamily(4))
            .addRoutes(NetworkRoute.newBuilder().setDestination("default").setGateway("fd00::1").setFamily(6))
            .build();

    /**
     * Plans {@link #REHEARSAL} for the namespace of {@code pid} and walks its changes through a {@link Links} that
     * makes none, returning how many it walked. A template's warm-up and the agent's AOT training run it, so that a
     * clone's first ConfigureNetwork finds this code's classes loaded and its lambdas linked: under TCG each costs
     * tens of milliseconds the first time.
     */
    public int rehearse(int pid) {
        List<Step> moves = new ArrayList<>();
        List<Step> steps = plan(REHEARSAL.toBuilder().setNetnsPid(pid).build(), moves);
        try (Links none = new NoChanges()) {
            apply(none, moves);
            apply(none, steps);
        }
        return moves.size() + steps.size();
    }

    /** The rehearsal's links: every change accepted, none made. */
    private static final class NoChanges implements Links {
        @Override
        public void moveToNetnsOf(String name, int pid) {
        }

        @Override
        public void rename(String name, String newName) {
        }

        @Override
        public void setMtu(String name, int mtu) {
        }

        @Override
        public void setUp(String name) {
        }

        @Override
        public void addAddress(String name, IpPrefix address) {
        }

        @Override
        public void addRoute(Route route) {
        }

        @Override
        public void close() {
        }
    }

    /** {@code name}, or null if it is empty; INVALID_ARGUMENT naming {@code field} if no link can have it. */
    private static String linkName(String name, String field, Object... args) {
        if (name.isEmpty()) {
            return null;
        }
        if (name.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > MAX_NAME_BYTES || name.contains("/")
                || name.isBlank()) {
            throw Errors.invalidArgument(field + "=%s: not a link name (1 to %d bytes, no /)",
                    append(args, name, MAX_NAME_BYTES));
        }
        return name;
    }

    private static <T> T parse(java.util.function.Supplier<T> parser, String field, Object... args) {
        try {
            return parser.get();
        } catch (IllegalArgumentException e) {
            throw Errors.invalidArgument(field + ": %s", append(args, e.getMessage()));
        }
    }

    private static Object[] append(Object[] args, Object... more) {
        Object[] all = java.util.Arrays.copyOf(args, args.length + more.length);
        System.arraycopy(more, 0, all, args.length, more.length);
        return all;
    }

    /**
     * The guest interface whose MAC is {@code mac}, waiting up to its NIC wait ({@link #NIC_WAIT} unless a test says otherwise): a guest restored from a
     * VM template gets its NIC hot-plugged just before it resumes, and the kernel probes it in the background.
     */
    String awaitInterfaceWithMac(String mac) {
        long deadline = System.nanoTime() + nicWait.toNanos();
        while (true) {
            try {
                return interfaceWithMac(mac);
            } catch (io.javakata.ttrpc.RuntimeStatusException e) {
                if (System.nanoTime() - deadline > 0) {
                    throw e;
                }
            }
            try {
                Thread.sleep(NIC_POLL_MILLIS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw Errors.unavailable("interfaces.mac=%s: interrupted waiting for it", mac);
            }
        }
    }

    /** The guest interface whose MAC is {@code mac}. */
    String interfaceWithMac(String mac) {
        String wanted = mac.toLowerCase(Locale.ROOT);
        try (Stream<Path> links = Files.list(sysClassNet)) {
            for (Path link : links.sorted().toList()) {
                Path address = link.resolve("address");
                if (Files.exists(address) && Files.readString(address).strip().toLowerCase(Locale.ROOT).equals(wanted)) {
                    return link.getFileName().toString();
                }
            }
        } catch (IOException e) {
            throw Errors.internal("list %s: %s", sysClassNet, e.getMessage());
        }
        throw Errors.invalidArgument("interfaces.mac=%s: no guest interface under %s has it (is virtio_net loaded?)",
                mac, sysClassNet);
    }
}
