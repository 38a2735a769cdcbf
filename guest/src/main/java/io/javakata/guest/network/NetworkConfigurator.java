package io.javakata.guest.network;

import io.javakata.agent.v1.ConfigureNetworkRequest;
import io.javakata.agent.v1.NetworkInterface;
import io.javakata.agent.v1.NetworkRoute;
import io.javakata.ttrpc.Errors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * Configures the pod's NICs in the guest with busybox {@code ip}: each interface is found by MAC
 * under /sys/class/net, renamed to the pod interface's name, given its MTU and addresses and
 * brought up; then the routes are added and the hostname set. With a {@code netns_pid} (the pod's
 * sandbox container, whose network namespace the pod's other containers join) each interface is first
 * moved into that namespace ({@code ip link set … netns PID}) and every later command runs inside it
 * through busybox {@code nsenter -t PID -n}, starting with {@code lo} up; as under runc, the pod's
 * network is then the sandbox container's namespace, not the guest's root one.
 */
public final class NetworkConfigurator {

    /** How long a NIC named in a request may take to appear (a hot-plugged one probes after the guest resumed). */
    static final java.time.Duration NIC_WAIT = java.time.Duration.ofSeconds(10);
    private static final long NIC_POLL_MILLIS = 20;
    private final java.time.Duration nicWait;

    private static final System.Logger LOG = System.getLogger(NetworkConfigurator.class.getName());

    private final Path sysClassNet;
    private final Path hostnameFile;
    private final CommandRunner runner;

    /**
     * @param sysClassNet  /sys/class/net
     * @param hostnameFile /proc/sys/kernel/hostname
     */
    public NetworkConfigurator(Path sysClassNet, Path hostnameFile, CommandRunner runner) {
        this(sysClassNet, hostnameFile, runner, NIC_WAIT);
    }

    /** @param nicWait how long a NIC named in a request may take to appear */
    NetworkConfigurator(Path sysClassNet, Path hostnameFile, CommandRunner runner, java.time.Duration nicWait) {
        this.sysClassNet = sysClassNet;
        this.hostnameFile = hostnameFile;
        this.runner = runner;
        this.nicWait = nicWait;
    }

    /** Applies {@code request}; INVALID_ARGUMENT for a MAC no guest interface has, INTERNAL if ip fails. */
    public void configure(ConfigureNetworkRequest request) {
        long start = System.nanoTime();
        List<List<String>> moves = new ArrayList<>();
        List<List<String>> commands = new ArrayList<>();
        int pid = request.getNetnsPid();
        if (pid > 0) {
            commands.add(List.of("ip", "link", "set", "dev", "lo", "up"));
        }
        for (NetworkInterface nic : request.getInterfacesList()) {
            String current = awaitInterfaceWithMac(nic.getMac());
            String name = nic.getName().isEmpty() ? current : nic.getName();
            if (pid > 0) {
                moves.add(List.of("ip", "link", "set", "dev", current, "netns", Integer.toString(pid)));
            }
            if (!current.equals(name)) {
                commands.add(List.of("ip", "link", "set", "dev", current, "name", name));
            }
            if (nic.getMtu() > 0) {
                commands.add(List.of("ip", "link", "set", "dev", name, "mtu", Integer.toString(nic.getMtu())));
            }
            for (String address : nic.getAddressesList()) {
                commands.add(List.of("ip", address.contains(":") ? "-6" : "-4", "addr", "add", address, "dev", name));
            }
            commands.add(List.of("ip", "link", "set", "dev", name, "up"));
        }
        for (NetworkRoute route : request.getRoutesList()) {
            List<String> command = new ArrayList<>(List.of("ip", route.getFamily() == 6 ? "-6" : "-4", "route", "add",
                    route.getDestination()));
            if (!route.getGateway().isEmpty()) {
                command.addAll(List.of("via", route.getGateway()));
            }
            if (!route.getDevice().isEmpty()) {
                command.addAll(List.of("dev", route.getDevice()));
            }
            if (!route.getSource().isEmpty()) {
                command.addAll(List.of("src", route.getSource()));
            }
            commands.add(List.copyOf(command));
        }
        long found = System.nanoTime();
        List<List<String>> all = new ArrayList<>(moves);
        for (List<String> command : commands) {
            all.add(pid > 0 ? inNetns(pid, command) : command);
        }
        for (List<String> command : all) {
            try {
                runner.run(command);
            } catch (IOException e) {
                throw Errors.internal("configure the guest network: %s", e.getMessage());
            }
        }
        if (!request.getHostname().isEmpty()) {
            try {
                Files.writeString(hostnameFile, request.getHostname());
            } catch (IOException e) {
                throw Errors.internal("set the guest hostname to %s: %s", request.getHostname(), e.getMessage());
            }
        }
        long done = System.nanoTime();
        LOG.log(System.Logger.Level.INFO, "network configured: {0} interfaces, {1} routes, hostname {2}, netns of pid {3}"
                        + " nics_found_millis={4} commands={5} commands_millis={6}",
                request.getInterfacesCount(), request.getRoutesCount(), request.getHostname(),
                pid > 0 ? Integer.toString(pid) : "agent", String.valueOf((found - start) / 1_000_000),
                String.valueOf(all.size()), String.valueOf((done - found) / 1_000_000));
    }

    private static List<String> inNetns(int pid, List<String> command) {
        List<String> argv = new ArrayList<>(List.of("nsenter", "-t", Integer.toString(pid), "-n"));
        argv.addAll(command);
        return List.copyOf(argv);
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
