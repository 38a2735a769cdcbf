package io.javakata.shim.network;

import io.javakata.shim.agent.Agent;
import io.javakata.sys.Namespaces;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Makes CRI PortForward work for a VM. containerd 1.6 serves PortForward by dialling
 * {@code localhost:PORT} inside the pod's network namespace on the host, where nothing of a VM
 * listens. So for every TCP port the workload listens on in the guest (reported by the agent), a
 * listener on 127.0.0.1:PORT and [::1]:PORT is opened inside the host pod netns, and each accepted
 * connection is relayed through the agent to 127.0.0.1:PORT in the guest.
 *
 * <p>The guest may be hostile and report any number of ports, so at most {@link #MAX_PORTS} are
 * forwarded (the ones already forwarded stay, new ones are taken lowest first; the rest is refused
 * and logged once at WARNING, later at DEBUG). Each relayed connection holds agent calls on the pod's
 * one ttrpc connection, whose calls in flight are bounded ({@link io.javakata.ttrpc.TtrpcClient}), so
 * at most {@link #MAX_CONNECTIONS} are relayed at once; a connection beyond that is closed at once.
 *
 * <p>Threads: one virtual thread watches the guest's ports (a long poll), one accepts per
 * listener, two relay per connection. {@link #close()} stops them all and closes every socket.
 */
public final class PortForwarder implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(PortForwarder.class.getName());
    private static final Duration WATCH_WAIT = Duration.ofSeconds(10);
    private static final Duration RETRY = Duration.ofSeconds(1);
    private static final int CHUNK = 64 * 1024;
    /** Guest ports forwarded at most per pod (each costs two listeners and their accept threads). */
    public static final int MAX_PORTS = 64;
    /** Connections relayed at once per pod: each holds up to two agent calls (a read, a write). */
    public static final int MAX_CONNECTIONS = 256;

    private final Path netns;
    private final Agent agent;
    /** Port to its listeners (IPv4 and, when the namespace has ::1, IPv6); guarded by this. */
    private final Map<Integer, List<ServerSocketChannel>> listeners = new TreeMap<>();
    private final Set<SocketChannel> connections = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private volatile boolean closed;
    private Thread watcher;
    /** Whether refused ports were logged at WARNING already; guarded by this. */
    private boolean refusalLogged;
    private final java.util.concurrent.Semaphore connectionSlots = new java.util.concurrent.Semaphore(MAX_CONNECTIONS);
    private final java.util.concurrent.atomic.AtomicBoolean connectionRefusalLogged =
            new java.util.concurrent.atomic.AtomicBoolean();

    private PortForwarder(Path netns, Agent agent) {
        this.netns = Objects.requireNonNull(netns, "netns");
        this.agent = Objects.requireNonNull(agent, "agent");
    }

    /** Starts watching the guest's ports; returns at once. */
    public static PortForwarder start(Path netns, Agent agent) {
        PortForwarder forwarder = new PortForwarder(netns, agent);
        forwarder.watcher = Thread.ofVirtual().name("portforward-watch").start(forwarder::watch);
        return forwarder;
    }

    /** The ports listened on in the host pod netns right now (for tests and logs). */
    public synchronized Set<Integer> ports() {
        return new TreeSet<>(listeners.keySet());
    }

    private void watch() {
        Set<Integer> known = new TreeSet<>();
        while (!closed) {
            try {
                Set<Integer> now = new TreeSet<>(agent.listeningPorts(known, WATCH_WAIT));
                if (!now.equals(known)) {
                    update(now);
                    known = now;
                }
            } catch (RuntimeStatusException e) {
                if (closed || e.code() == Code.UNAVAILABLE) {
                    return;
                }
                LOG.log(System.Logger.Level.WARNING, "port forwarding: watching guest ports: " + e.getMessage());
                sleep(RETRY);
            }
        }
    }

    private synchronized void update(Set<Integer> ports) {
        for (Integer port : List.copyOf(listeners.keySet())) {
            if (!ports.contains(port)) {
                listeners.remove(port).forEach(PortForwarder::closeQuietly);
                LOG.log(System.Logger.Level.INFO, "port forwarding: guest port {0} closed", String.valueOf(port));
            }
        }
        List<Integer> refused = new ArrayList<>();
        for (Integer port : ports) {
            if (closed || listeners.containsKey(port)) {
                continue;
            }
            if (listeners.size() >= MAX_PORTS) {
                refused.add(port);
                continue;
            }
            List<ServerSocketChannel> opened = listen(port);
            listeners.put(port, opened);
            opened.forEach(channel -> Thread.ofVirtual().name("portforward-accept-" + port)
                    .start(() -> accept(channel, port)));
        }
        if (!refused.isEmpty()) {
            System.Logger.Level level = refusalLogged ? System.Logger.Level.DEBUG : System.Logger.Level.WARNING;
            refusalLogged = true;
            LOG.log(level, "port forwarding: the guest listens on {0} ports; only {1} are forwarded, {2} refused "
                    + "(first: {3})", String.valueOf(ports.size()), String.valueOf(MAX_PORTS),
                    String.valueOf(refused.size()), refused.subList(0, Math.min(10, refused.size())));
        }
    }

    /** Listeners on 127.0.0.1:port and [::1]:port, made in the pod netns; a bind failure is logged. */
    private List<ServerSocketChannel> listen(int port) {
        List<ServerSocketChannel> opened = new ArrayList<>();
        for (String host : List.of("127.0.0.1", "::1")) {
            try {
                opened.add(Namespaces.inNetwork(netns, () -> {
                    ServerSocketChannel channel = ServerSocketChannel.open();
                    try {
                        channel.bind(new InetSocketAddress(host, port));
                        return channel;
                    } catch (IOException e) {
                        channel.close();
                        throw e;
                    }
                }));
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, "port forwarding: cannot listen on " + host + " port " + port
                        + " in " + netns + ": " + e.getMessage());
            }
        }
        LOG.log(System.Logger.Level.INFO, "port forwarding: guest port {0} reachable in {1} ({2} listeners)",
                String.valueOf(port), netns, opened.size());
        return opened;
    }

    private void accept(ServerSocketChannel channel, int port) {
        while (!closed && channel.isOpen()) {
            try {
                SocketChannel client = channel.accept();
                if (!connectionSlots.tryAcquire()) {
                    closeQuietly(client);
                    if (connectionRefusalLogged.compareAndSet(false, true)) {
                        LOG.log(System.Logger.Level.WARNING, "port forwarding: {0} connections relayed already; "
                                + "further connections are closed at once", String.valueOf(MAX_CONNECTIONS));
                    }
                    continue;
                }
                connections.add(client);
                Thread.ofVirtual().name("portforward-" + port).start(() -> relay(client, port));
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    /** One host connection: guest-bound bytes on a second thread, host-bound bytes here. */
    private void relay(SocketChannel client, int port) {
        String stream = null;
        try {
            stream = agent.openPortForward(port);
            String id = stream;
            Thread upstream = Thread.ofVirtual().name("portforward-up-" + id).start(() -> copyToGuest(client, id));
            while (true) {
                Agent.Chunk read = agent.readPortForward(id, CHUNK);
                ByteBuffer buffer = ByteBuffer.wrap(read.data());
                while (buffer.hasRemaining()) {
                    client.write(buffer);
                }
                if (read.eof()) {
                    break;
                }
            }
            client.shutdownOutput();
            upstream.join();
        } catch (IOException | RuntimeStatusException e) {
            LOG.log(System.Logger.Level.DEBUG, "port forwarding: connection to guest port " + port + ": "
                    + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            closeQuietly(client);
            connections.remove(client);
            connectionSlots.release();
            if (stream != null) {
                try {
                    agent.closePortForward(stream, false);
                } catch (RuntimeStatusException e) {
                    LOG.log(System.Logger.Level.DEBUG, "port forwarding: close " + stream + ": " + e.getMessage());
                }
            }
        }
    }

    private void copyToGuest(SocketChannel client, String stream) {
        ByteBuffer buffer = ByteBuffer.allocate(CHUNK);
        try {
            while (client.read(buffer) >= 0) {
                buffer.flip();
                byte[] data = new byte[buffer.remaining()];
                buffer.get(data);
                agent.writePortForward(stream, data);
                buffer.clear();
            }
            agent.closePortForward(stream, true);
        } catch (IOException | RuntimeStatusException e) {
            // The host client or the guest connection went away; the reading side ends the relay.
            closeQuietly(client);
        }
    }

    /** Stops watching and closes every listener and connection. Idempotent. */
    @Override
    public void close() {
        closed = true;
        if (watcher != null) {
            watcher.interrupt();
        }
        synchronized (this) {
            listeners.values().forEach(list -> list.forEach(PortForwarder::closeQuietly));
            listeners.clear();
        }
        connections.forEach(PortForwarder::closeQuietly);
    }

    private static void closeQuietly(java.io.Closeable closeable) {
        try {
            closeable.close();
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "close: " + e.getMessage());
        }
    }

    private static void sleep(Duration duration) {
        try {
            Thread.sleep(duration);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
