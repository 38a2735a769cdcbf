package io.javakata.ttrpc;

import com.google.protobuf.Message;
import com.google.protobuf.Parser;
import io.javakata.ttrpc.transport.Connection;

import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A ttrpc v1.1 server: unary methods registered by service and method name, served on any number of
 * connections, each request on its own virtual thread (containerd/ttrpc {@code server.go}).
 *
 * <p>Answers follow containerd/ttrpc {@code services.go} and {@code server.go}: UNIMPLEMENTED for an unknown service
 * or method, INVALID_ARGUMENT for an even stream id or a payload that does not parse, DEADLINE_EXCEEDED when a
 * handler outlives the request's {@code timeout_nano}. A Request that does not parse, or a frame over
 * 4 MiB, is answered and then the connection is closed; frames of other types are ignored.
 *
 * <p>Thread-safe. Register methods before serving. {@link #serve} blocks until its connection ends;
 * {@link #close()} ends every connection being served and interrupts their handlers.
 */
public final class TtrpcServer implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(TtrpcServer.class.getName());

    /** The default bound on requests handled at once per connection (see {@link #TtrpcServer(String, int)}). */
    public static final int DEFAULT_MAX_IN_FLIGHT_PER_CONNECTION = 1024;

    private final String name;
    private final int maxInFlightPerConnection;
    private final Map<String, Map<String, Method<?>>> services = new ConcurrentHashMap<>();
    private final Set<ServerConnection> connections = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    /** @param name for thread names and log lines, e.g. "shim" or "agent" */
    public TtrpcServer(String name) {
        this(name, DEFAULT_MAX_IN_FLIGHT_PER_CONNECTION);
    }

    /**
     * @param name                     for thread names and log lines, e.g. "shim" or "agent"
     * @param maxInFlightPerConnection requests one connection may have in flight; a request beyond that is
     *                                 answered RESOURCE_EXHAUSTED at once, so a flooding peer costs at most
     *                                 that many handler threads
     */
    public TtrpcServer(String name, int maxInFlightPerConnection) {
        if (maxInFlightPerConnection < 1) {
            throw new IllegalArgumentException("maxInFlightPerConnection must be positive: " + maxInFlightPerConnection);
        }
        this.name = Objects.requireNonNull(name, "name");
        this.maxInFlightPerConnection = maxInFlightPerConnection;
    }

    int maxInFlightPerConnection() {
        return maxInFlightPerConnection;
    }

    /** Registers a unary method; a second registration of the same name replaces the first. */
    public <Q extends Message> void registerUnary(String service, String method, Parser<Q> requestParser,
                                                  UnaryHandler<Q> handler) {
        services.computeIfAbsent(service, s -> new ConcurrentHashMap<>())
                .put(method, new Method<>(requestParser, handler));
    }

    /**
     * Serves one connection until it ends (end of stream, a read error, a protocol error, or
     * {@link #close()}), then closes it. Requests run concurrently; responses go out as they finish.
     */
    public void serve(Connection connection) {
        ServerConnection served = new ServerConnection(this, connection);
        connections.add(served);
        try {
            if (closed) {
                return;
            }
            served.run();
        } finally {
            connections.remove(served);
            served.close();
        }
    }

    /** Ends every connection being served and interrupts their handlers. Idempotent. */
    @Override
    public void close() {
        closed = true;
        for (ServerConnection connection : connections) {
            connection.close();
        }
        LOG.log(System.Logger.Level.DEBUG, "ttrpc server {0} closed", name);
    }

    String name() {
        return name;
    }

    boolean hasService(String service) {
        return services.containsKey(service);
    }

    /** The method, or null if the service or method is not registered. */
    Method<?> method(String service, String method) {
        Map<String, Method<?>> methods = services.get(service);
        return methods == null ? null : methods.get(method);
    }

    /** One registered method: how to parse its request and who answers it. */
    record Method<Q extends Message>(Parser<Q> parser, UnaryHandler<Q> handler) {

        Message invoke(CallContext ctx, byte[] payload) throws Exception {
            Q request;
            try {
                request = parser.parseFrom(payload);
            } catch (com.google.protobuf.InvalidProtocolBufferException e) {
                throw Errors.invalidArgument("unmarshal payload of %s/%s: %s", ctx.service(), ctx.method(),
                        e.getMessage());
            }
            return handler.handle(ctx, request);
        }
    }
}
