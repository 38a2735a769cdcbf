package io.javakata.guest.network;

import com.google.protobuf.ByteString;
import com.google.protobuf.Empty;
import io.javakata.agent.v1.ConfigureNetworkRequest;
import io.javakata.agent.v1.ListListeningPortsRequest;
import io.javakata.agent.v1.ListListeningPortsResponse;
import io.javakata.agent.v1.OpenPortForwardRequest;
import io.javakata.agent.v1.OpenPortForwardResponse;
import io.javakata.agent.v1.PortForwardCloseRequest;
import io.javakata.agent.v1.PortForwardReadRequest;
import io.javakata.agent.v1.PortForwardReadResponse;
import io.javakata.agent.v1.PortForwardWriteRequest;
import io.javakata.ttrpc.Errors;
import io.javakata.ttrpc.TtrpcServer;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

/** The agent's networking RPCs: ConfigureNetwork, ListListeningPorts and the port-forward streams. */
public final class NetworkService {

    private static final String SERVICE = "javakata.agent.v1.Agent";
    /**
     * How often ListListeningPorts reads the pod's tcp tables while ports are likely to change: for {@link
     * #FAST_WINDOW} after ConfigureNetwork or the last change seen. Then every {@link #SLOW_POLL}: each read wakes an
     * idle guest, and under TCG every wake-up is emulated; at 4 a second an idle CRI pod's QEMU took ~5 % of a core
     * against ~1.2 % for a pod without a network (docs/benchmarks.md, "An idle pod's CPU"). A port a server opens
     * later is then forwarded within 2 s of it listening.
     */
    static final Duration POLL = Duration.ofMillis(250);
    static final Duration FAST_WINDOW = Duration.ofSeconds(60);
    static final Duration SLOW_POLL = Duration.ofSeconds(2);
    private static final Duration MAX_WAIT = Duration.ofSeconds(60);

    private final NetworkConfigurator configurator;
    private final Path procNet;
    private final PortForwards forwards = new PortForwards(this::podNetns);
    /** The guest pid whose netns is the pod's (from ConfigureNetwork); 0 means the agent's own. */
    private volatile int netnsPid;
    /** System.nanoTime() of ConfigureNetwork or of the last change to the listening ports a poll saw. */
    private volatile long lastChange = System.nanoTime();

    /**
     * @param procNet /proc/net (its tcp and tcp6 list the sockets of the agent's netns; after a
     *                ConfigureNetwork with a netns_pid, the sibling PID/net is read instead)
     */
    public NetworkService(NetworkConfigurator configurator, Path procNet) {
        this.configurator = configurator;
        this.procNet = procNet;
    }

    /** The real guest: rtnetlink, /sys/class/net, /proc. */
    public static NetworkService system() {
        return new NetworkService(new NetworkConfigurator(Path.of("/sys/class/net"),
                Path.of("/proc/sys/kernel/hostname"), RouteNetlinkLinks::open), Path.of("/proc/net"));
    }

    /**
     * A template's warm-up, so that its clones run ConfigureNetwork's code warm: rehearses a pod's request
     * ({@link NetworkConfigurator#rehearse}), then brings up {@code lo} of the agent's own network namespace the way a
     * pod's is brought up (rtnetlink from a thread that joined /proc/PID/ns/net), without making it the pod's.
     */
    public void warmUp() {
        int self = (int) ProcessHandle.current().pid();
        configurator.rehearse(self);
        configurator.configure(ConfigureNetworkRequest.newBuilder().setNetnsPid(self).build());
    }

    public void register(TtrpcServer server) {
        server.registerUnary(SERVICE, "ConfigureNetwork", ConfigureNetworkRequest.parser(), (ctx, q) -> {
            configure(q);
            return Empty.getDefaultInstance();
        });
        server.registerUnary(SERVICE, "ListListeningPorts", ListListeningPortsRequest.parser(),
                (ctx, q) -> listeningPorts(q));
        server.registerUnary(SERVICE, "OpenPortForward", OpenPortForwardRequest.parser(),
                (ctx, q) -> OpenPortForwardResponse.newBuilder().setStreamId(forwards.open(q.getPort())).build());
        server.registerUnary(SERVICE, "ReadPortForward", PortForwardReadRequest.parser(), (ctx, q) -> {
            byte[] data = forwards.read(q.getStreamId(), q.getMaxBytes());
            return PortForwardReadResponse.newBuilder().setData(ByteString.copyFrom(data)).setEof(data.length == 0)
                    .build();
        });
        server.registerUnary(SERVICE, "WritePortForward", PortForwardWriteRequest.parser(), (ctx, q) -> {
            forwards.write(q.getStreamId(), q.getData().toByteArray());
            return Empty.getDefaultInstance();
        });
        server.registerUnary(SERVICE, "ClosePortForward", PortForwardCloseRequest.parser(), (ctx, q) -> {
            forwards.close(q.getStreamId(), q.getWriteOnly());
            return Empty.getDefaultInstance();
        });
    }

    /** Configures the pod network and remembers its namespace for the port scan and port forwarding. */
    void configure(ConfigureNetworkRequest request) {
        configurator.configure(request);
        netnsPid = request.getNetnsPid();
        lastChange = System.nanoTime();
    }

    /** How long to wait before the next read of the tcp tables, {@code sinceChange} after the last change. */
    static Duration pollInterval(Duration sinceChange) {
        return sinceChange.compareTo(FAST_WINDOW) < 0 ? POLL : SLOW_POLL;
    }

    /** The pod's network namespace file, or null for the agent's own. */
    private Path podNetns() {
        int pid = netnsPid;
        return pid > 0 ? procNet.resolveSibling(Integer.toString(pid)).resolve("ns").resolve("net") : null;
    }

    /** The tcp and tcp6 tables' directory: /proc/PID/net of the pod's netns, or /proc/net. */
    Path tcpTables() {
        int pid = netnsPid;
        return pid > 0 ? procNet.resolveSibling(Integer.toString(pid)).resolve("net") : procNet;
    }

    /** Polls the pod netns' tcp{,6} tables until the set differs from the caller's or the wait is over. */
    ListListeningPortsResponse listeningPorts(ListListeningPortsRequest request) throws InterruptedException {
        Set<Integer> known = new TreeSet<>(request.getKnownTcpPortsList());
        Duration wait = Duration.ofMillis(request.getWaitMs());
        long deadline = System.nanoTime() + (wait.compareTo(MAX_WAIT) > 0 ? MAX_WAIT : wait).toNanos();
        while (true) {
            Set<Integer> ports;
            Path tables = tcpTables();
            try {
                ports = ListeningPorts.read(tables.resolve("tcp"), tables.resolve("tcp6"));
            } catch (IOException e) {
                throw Errors.internal("read %s/tcp: %s", tables, e.getMessage());
            }
            long now = System.nanoTime();
            boolean changed = !ports.equals(known);
            if (changed) {
                lastChange = now;
            }
            if (changed || now >= deadline) {
                return ListListeningPortsResponse.newBuilder().addAllTcpPorts(ports).build();
            }
            long pause = Math.min(pollInterval(Duration.ofNanos(now - lastChange)).toNanos(), deadline - now);
            TimeUnit.NANOSECONDS.sleep(Math.max(pause, 1));
        }
    }
}
