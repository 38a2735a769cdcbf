package io.javakata.guest.network;

import io.javakata.sys.Namespaces;
import io.javakata.ttrpc.Errors;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * The guest ends of port-forward connections: TCP connections to the guest's loopback, by stream
 * id. Reads block until data or end of stream (the shim long-polls, as with ReadStdout). Thread-safe.
 */
public final class PortForwards {

    /** Upper bound of one read answer. */
    static final int MAX_READ = 256 * 1024;

    private final Map<String, SocketChannel> streams = new ConcurrentHashMap<>();
    private final AtomicLong next = new AtomicLong();
    private final Supplier<Path> netns;

    /** Connections from the agent's own network namespace. */
    public PortForwards() {
        this(() -> null);
    }

    /**
     * @param netns the pod's network namespace file (/proc/PID/ns/net) at the time of each open, or
     *              null for the agent's own: connections are made from inside it
     *              ({@link Namespaces#inNetwork}), so they reach the pod's loopback
     */
    public PortForwards(Supplier<Path> netns) {
        this.netns = netns;
    }

    /** Connects to 127.0.0.1:port, then [::1]:port; UNAVAILABLE naming the port if neither answers. */
    public String open(int port) {
        if (port < 1 || port > 65535) {
            throw Errors.invalidArgument("port=%d: must be between 1 and 65535", port);
        }
        Path ns = netns.get();
        if (ns == null) {
            return connect(port);
        }
        try {
            return Namespaces.inNetwork(ns, () -> connect(port));
        } catch (IOException e) {
            throw Errors.unavailable("connect to port %d in the pod network namespace %s: %s", port, ns,
                    e.getMessage());
        }
    }

    private String connect(int port) {
        IOException last = null;
        for (String host : List.of("127.0.0.1", "::1")) {
            try {
                SocketChannel channel = SocketChannel.open(new InetSocketAddress(host, port));
                String id = "pf-" + port + "-" + next.incrementAndGet();
                streams.put(id, channel);
                return id;
            } catch (IOException e) {
                last = e;
            }
        }
        throw Errors.unavailable("connect to port %d in the guest: %s", port, last.getMessage());
    }

    /** Up to {@code max} bytes; an empty array at end of stream. */
    public byte[] read(String id, int max) {
        SocketChannel channel = find(id);
        ByteBuffer buffer = ByteBuffer.allocate(max <= 0 || max > MAX_READ ? MAX_READ : max);
        try {
            int n = channel.read(buffer);
            if (n < 0) {
                return new byte[0];
            }
            byte[] data = new byte[n];
            buffer.flip().get(data);
            return data;
        } catch (IOException e) {
            return new byte[0]; // reset or closed: end of stream for the shim
        }
    }

    public void write(String id, byte[] data) {
        SocketChannel channel = find(id);
        try {
            ByteBuffer buffer = ByteBuffer.wrap(data);
            while (buffer.hasRemaining()) {
                channel.write(buffer);
            }
        } catch (IOException e) {
            throw Errors.unavailable("port-forward stream %s: write: %s", id, e.getMessage());
        }
    }

    /** Half-closes ({@code writeOnly}) or closes and forgets the stream; an unknown id is ignored. */
    public void close(String id, boolean writeOnly) {
        SocketChannel channel = writeOnly ? streams.get(id) : streams.remove(id);
        if (channel == null) {
            return;
        }
        try {
            if (writeOnly) {
                channel.shutdownOutput();
            } else {
                channel.close();
            }
        } catch (IOException e) {
            // already closed by the peer
        }
    }

    private SocketChannel find(String id) {
        SocketChannel channel = streams.get(id);
        if (channel == null) {
            throw Errors.notFound("port-forward stream %s does not exist", id);
        }
        return channel;
    }
}
