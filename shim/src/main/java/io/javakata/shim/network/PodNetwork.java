package io.javakata.shim.network;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javakata.hypervisor.VmSpec;
import io.javakata.shim.agent.Agent;
import io.javakata.ttrpc.Errors;
import io.javakata.ttrpc.RuntimeStatusException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Connects a pod VM to the pod's network namespace, which CNI configured before the sandbox task
 * was created and named in the sandbox spec as {@code {type: network, path: ...}} (containerd
 * {@code pkg/cri/server/container_create_linux.go}, {@code pkg/cri/opts/spec_linux.go}). For each interface CNI made
 * (usually eth0, a veth) a tap
 * device is created in the same namespace and mirrored to it with tc (ingress qdisc + u32
 * + mirred redirect, both ways; from the tap only the pod's own frames, see {@link SpoofFilter}); QEMU runs in that namespace and opens the tap; the
 * guest NIC takes the interface's MAC, addresses, routes and MTU (see docs/networking.md).
 *
 * <p>From the sandbox spec's {@code linux.namespaces}:
 * <ul>
 *   <li>no {@code network} entry: the host network, which a VM cannot share: refused;</li>
 *   <li>a {@code network} entry without a path ({@code ctr run}): a VM without a NIC;</li>
 *   <li>a {@code network} entry with a path: that namespace, inspected and mirrored.</li>
 * </ul>
 *
 * <p>Not thread-safe: one sandbox creates and closes it.
 */
public final class PodNetwork implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(PodNetwork.class.getName());

    private final Path netns;
    private final List<PodInterface> interfaces;
    private final List<PodRoute> routes;
    private final CommandRunner runner;
    private final List<String> taps = new ArrayList<>();
    /** Whether {@link SpoofFilter#SINK} may exist and must go with the taps. */
    private boolean sink;
    private boolean closed;

    private PodNetwork(Path netns, List<PodInterface> interfaces, List<PodRoute> routes, CommandRunner runner) {
        this.netns = netns;
        this.interfaces = interfaces;
        this.routes = routes;
        this.runner = runner;
    }

    /** A VM with no NIC and nothing to undo. */
    static PodNetwork none() {
        return new PodNetwork(null, List.of(), List.of(), (argv, stdin) -> {
            throw new IOException("no commands run without a network namespace");
        });
    }

    /** The tap that carries the pod interface with index {@code i}. */
    static String tapName(int i) {
        return "tap" + i + "_jk";
    }

    /**
     * The network namespace path of a sandbox spec: empty for a namespace without a path.
     *
     * @throws RuntimeStatusException INVALID_ARGUMENT if the spec has no network namespace (host
     *                                networking)
     */
    public static Optional<Path> netnsOf(ObjectNode spec) {
        for (JsonNode namespace : spec.path("linux").path("namespaces")) {
            if (namespace.path("type").asText("").equals("network")) {
                String path = namespace.path("path").asText("");
                return path.isEmpty() ? Optional.empty() : Optional.of(Path.of(path));
            }
        }
        throw Errors.invalidArgument("linux.namespaces has no network namespace: the pod uses the host's network "
                + "(hostNetwork), and a VM cannot share the host's network namespace; run such pods with runc");
    }

    /**
     * Inspects the pod's namespace and mirrors each interface to a new tap. On failure whatever was
     * created is removed before the error (INVALID_ARGUMENT for a spec or an interface javakata
     * cannot carry, with the field and value) propagates.
     */
    public static PodNetwork setUp(ObjectNode spec, CommandRunner runner) {
        Optional<Path> path = netnsOf(spec);
        if (path.isEmpty()) {
            LOG.log(System.Logger.Level.INFO, "network namespace without a path: the VM gets no NIC");
            return none();
        }
        Path netns = path.get();
        if (!Files.exists(netns)) {
            throw Errors.invalidArgument("linux.namespaces network path %s: no such network namespace file", netns);
        }
        if (sameFile(netns, Path.of("/proc/self/ns/net"))) {
            throw Errors.invalidArgument("linux.namespaces network path %s is the host's own network namespace: a VM "
                    + "cannot share it", netns);
        }
        List<PodInterface> interfaces;
        List<PodRoute> routes = new ArrayList<>();
        try {
            interfaces = Iproute2.parseInterfaces(runner.run(Iproute2.showAddresses(netns)));
            if (interfaces.isEmpty()) {
                throw Errors.invalidArgument("network namespace %s has no interface besides lo: CNI configured "
                        + "nothing to connect the VM to", netns);
            }
            for (int family : new int[] {4, 6}) {
                routes.addAll(Iproute2.parseRoutes(runner.run(Iproute2.showRoutes(netns, family)), family, interfaces));
            }
        } catch (IOException e) {
            throw Errors.internal("inspect network namespace %s: %s", netns, e.getMessage());
        }
        PodNetwork network = new PodNetwork(netns, interfaces, List.copyOf(routes), runner);
        try {
            network.sink = true;
            List<List<String>> commands = new ArrayList<>(List.of(SpoofFilter.createSink(netns)));
            for (int i = 0; i < interfaces.size(); i++) {
                network.taps.add(tapName(i));
                commands.addAll(Iproute2.mirrorSetup(netns, interfaces.get(i), tapName(i)));
            }
            Iproute2.runBatched(runner, commands, false);
        } catch (IOException e) {
            network.close();
            throw Errors.internal("connect network namespace %s to the VM: %s", netns, e.getMessage());
        }
        LOG.log(System.Logger.Level.INFO, "network namespace {0}: {1} mirrored to {2}", netns, interfaces,
                network.taps);
        return network;
    }

    private static boolean sameFile(Path a, Path b) {
        try {
            return Files.getAttribute(a, "unix:ino").equals(Files.getAttribute(b, "unix:ino"))
                    && Files.getAttribute(a, "unix:dev").equals(Files.getAttribute(b, "unix:dev"));
        } catch (IOException | UnsupportedOperationException e) {
            return false;
        }
    }

    /**
     * Removes what javakata put into pod network namespace {@code netns} when the shim that set it up
     * died without {@link #close()}: every tap named like {@link #tapName}, the ingress qdisc (with
     * its mirred filter) of each interface redirecting to one of them, and the sink of
     * {@link SpoofFilter}. For the shim's delete action;
     * the CNI interfaces themselves are left to CNI. Failures are logged, never thrown.
     *
     * @return what was removed, e.g. {@code [ingress qdisc of eth0, tap tap0_jk]}
     */
    public static List<String> removeLeftovers(Path netns, CommandRunner runner) {
        List<String> removed = new ArrayList<>();
        List<String> links;
        try {
            links = Iproute2.linkNames(runner.run(Iproute2.showLinks(netns)));
        } catch (IOException | RuntimeStatusException e) {
            LOG.log(System.Logger.Level.WARNING, "network namespace {0}: cannot list links: {1}", netns, e.getMessage());
            return removed;
        }
        List<String> taps = links.stream().filter(name -> name.matches("tap[0-9]+_jk")).toList();
        if (links.contains(SpoofFilter.SINK)) {
            try {
                runner.run(SpoofFilter.deleteSink(netns));
                removed.add("sink " + SpoofFilter.SINK);
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, "network namespace {0}: {1}", netns, e.getMessage());
            }
        }
        if (taps.isEmpty()) {
            return removed;
        }
        for (String link : links) {
            if (taps.contains(link) || link.equals("lo")) {
                continue;
            }
            try {
                String filters = runner.run(Iproute2.in(netns, "tc", "filter", "show", "dev", link, "ingress"));
                if (taps.stream().anyMatch(filters::contains)) {
                    runner.run(Iproute2.in(netns, "tc", "qdisc", "del", "dev", link, "ingress"));
                    removed.add("ingress qdisc of " + link);
                }
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, "network namespace {0}: {1}", netns, e.getMessage());
            }
        }
        for (String tap : taps) {
            try {
                runner.run(Iproute2.in(netns, "ip", "link", "del", "dev", tap));
                removed.add("tap " + tap);
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, "network namespace {0}: {1}", netns, e.getMessage());
            }
        }
        LOG.log(System.Logger.Level.INFO, "network namespace {0}: removed what a dead shim left: {1}", netns, removed);
        return removed;
    }

    /** The pod's network namespace, empty for a VM without a NIC. */
    public Optional<Path> netns() {
        return Optional.ofNullable(netns);
    }

    public List<PodInterface> interfaces() {
        return interfaces;
    }

    /** {@code vm} running in the pod netns with one NIC per interface (unchanged if there is none). */
    public VmSpec applyTo(VmSpec vm) {
        if (netns == null) {
            return vm;
        }
        List<VmSpec.Nic> nics = new ArrayList<>();
        for (int i = 0; i < interfaces.size(); i++) {
            nics.add(new VmSpec.Nic("net" + i, tapName(i), interfaces.get(i).mac()));
        }
        return vm.withNetwork(netns, nics);
    }

    /** What the agent must configure in the guest: the interfaces, their routes, and the hostname. */
    public Agent.GuestNetwork guestNetwork(String hostname) {
        return new Agent.GuestNetwork(hostname == null ? "" : hostname, 0,
                interfaces.stream().map(i -> new Agent.GuestNetwork.Interface(i.mac(), i.name(), i.mtu(),
                        i.addresses())).toList(),
                routes.stream().map(r -> new Agent.GuestNetwork.Route(r.destination(), r.gateway(), r.device(),
                        r.source(), r.family())).toList());
    }

    /**
     * The frames the guest sent that {@link SpoofFilter} dropped so far (wrong source MAC or IP, router
     * advertisements...), over all taps; 0 for a VM without a NIC, -1 if tc cannot tell.
     */
    public long droppedFrames() {
        long dropped = 0;
        for (String tap : taps) {
            try {
                dropped += SpoofFilter.dropped(runner.run(SpoofFilter.showStats(netns, tap)));
            } catch (IOException | RuntimeStatusException e) {
                LOG.log(System.Logger.Level.DEBUG, "tc statistics of {0}: {1}", tap, e.getMessage());
                return -1;
            }
        }
        return dropped;
    }

    /**
     * Removes the taps, their qdiscs and the pod interfaces' ingress qdiscs. Idempotent; failures
     * are logged. A namespace already gone took its devices with it.
     */
    @Override
    public void close() {
        if (closed || netns == null) {
            return;
        }
        closed = true;
        if (!Files.exists(netns)) {
            return;
        }
        long dropped = droppedFrames();
        List<List<String>> commands = new ArrayList<>();
        for (int i = 0; i < taps.size(); i++) {
            commands.addAll(Iproute2.mirrorTeardown(netns, interfaces.get(i).name(), taps.get(i)));
        }
        if (sink) {
            commands.add(SpoofFilter.deleteSink(netns));
        }
        try {
            Iproute2.runBatched(runner, commands, true);
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "network teardown: " + e.getMessage());
        }
        LOG.log(System.Logger.Level.INFO, "network namespace {0}: taps {1} and their tc mirrors removed; {2} frames "
                + "the guest sent were dropped as not its own", netns, taps, String.valueOf(dropped));
    }
}
