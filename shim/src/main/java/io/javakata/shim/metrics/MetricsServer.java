package io.javakata.shim.metrics;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * Serves a pod's metrics over HTTP/1.1 on a Unix socket ({@value #SOCKET_NAME} in the sandbox's state directory):
 * {@code GET /metrics} answers the Prometheus text of {@code body}, anything else 404 or 405, one request per
 * connection ({@code Connection: close}). {@code curl --unix-socket <sandbox>/metrics.sock http://pod/metrics} reads
 * it; so does {@code containerd-shim-javakata-v2 metrics} for every pod of the node.
 *
 * <p>One virtual thread accepts, one per connection answers. A client gets {@link #CLIENT_TIMEOUT} to send its request
 * head (at most {@value #MAX_HEAD} bytes) and read the answer, then the connection is closed under it. {@link #close()}
 * stops accepting and removes the socket. Thread-safe.
 */
public final class MetricsServer implements AutoCloseable {

    public static final String SOCKET_NAME = "metrics.sock";
    static final Duration CLIENT_TIMEOUT = Duration.ofSeconds(15);
    static final int MAX_HEAD = 8192;

    private static final System.Logger LOG = System.getLogger(MetricsServer.class.getName());

    private final Path socket;
    private final ServerSocketChannel server;
    private final Supplier<String> body;
    private final ScheduledExecutorService timeouts;
    private final Thread acceptor;

    private MetricsServer(Path socket, ServerSocketChannel server, Supplier<String> body) {
        this.socket = socket;
        this.server = server;
        this.body = body;
        this.timeouts = Executors.newSingleThreadScheduledExecutor(
                Thread.ofVirtual().name("metrics-timeouts").factory());
        this.acceptor = Thread.ofVirtual().name("metrics-accept").unstarted(this::accept);
    }

    /**
     * Listens on {@code dir}/{@value #SOCKET_NAME}; empty, with a warning, if it cannot (a pod runs without metrics
     * rather than not at all).
     */
    public static Optional<MetricsServer> start(Path dir, Supplier<String> body) {
        Path socket = dir.resolve(SOCKET_NAME);
        try {
            Files.deleteIfExists(socket);
            ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            try {
                server.bind(UnixDomainSocketAddress.of(socket));
            } catch (IOException e) {
                server.close();
                throw e;
            }
            MetricsServer metrics = new MetricsServer(socket, server, body);
            metrics.acceptor.start();
            return Optional.of(metrics);
        } catch (IOException | UnsupportedOperationException e) {
            LOG.log(System.Logger.Level.WARNING, "no metrics for this pod: cannot listen on {0}: {1}", socket,
                    e.getMessage());
            return Optional.empty();
        }
    }

    public Path socket() {
        return socket;
    }

    private void accept() {
        while (true) {
            SocketChannel client;
            try {
                client = server.accept();
            } catch (ClosedChannelException e) {
                return;
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, "metrics: accept on {0} failed: {1}", socket, e.getMessage());
                return;
            }
            Thread.ofVirtual().name("metrics-client").start(() -> answer(client));
        }
    }

    /** Reads one request head and answers it; the scheduled close bounds a client that stalls either way. */
    private void answer(SocketChannel client) {
        var timeout = timeouts.schedule(() -> closeQuietly(client), CLIENT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        try (client) {
            String head = readHead(client);
            String[] request = head.lines().findFirst().orElse("").split(" ");
            if (request.length < 2) {
                respond(client, 400, "Bad Request", "not an HTTP request\n");
            } else if (!request[0].equals("GET")) {
                respond(client, 405, "Method Not Allowed", "only GET\n");
            } else if (!request[1].equals("/metrics") && !request[1].startsWith("/metrics?")) {
                respond(client, 404, "Not Found", "GET /metrics\n");
            } else {
                respond(client, 200, "OK", body.get());
            }
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "metrics: client: " + e.getMessage());
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "metrics: rendering failed", e);
        } finally {
            timeout.cancel(false);
        }
    }

    private static String readHead(SocketChannel client) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(MAX_HEAD);
        while (buffer.hasRemaining()) {
            if (client.read(buffer) < 0) {
                break;
            }
            String sofar = new String(buffer.array(), 0, buffer.position(), StandardCharsets.ISO_8859_1);
            if (sofar.contains("\r\n\r\n") || sofar.contains("\n\n")) {
                return sofar;
            }
        }
        return new String(buffer.array(), 0, buffer.position(), StandardCharsets.ISO_8859_1);
    }

    private static void respond(SocketChannel client, int status, String reason, String text) throws IOException {
        byte[] payload = text.getBytes(StandardCharsets.UTF_8);
        String head = "HTTP/1.1 " + status + " " + reason + "\r\n"
                + "Content-Type: " + (status == 200 ? PromText.CONTENT_TYPE : "text/plain; charset=utf-8") + "\r\n"
                + "Content-Length: " + payload.length + "\r\n"
                + "Connection: close\r\n\r\n";
        ByteBuffer out = ByteBuffer.allocate(head.length() + payload.length);
        out.put(head.getBytes(StandardCharsets.ISO_8859_1)).put(payload).flip();
        while (out.hasRemaining()) {
            client.write(out);
        }
    }

    private static void closeQuietly(SocketChannel client) {
        try {
            client.close();
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "metrics: close: " + e.getMessage());
        }
    }

    /** Stops accepting, removes the socket and waits (bounded) for the acceptor. Idempotent. */
    @Override
    public void close() {
        try {
            server.close();
            Files.deleteIfExists(socket);
            acceptor.join(Duration.ofSeconds(2));
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "metrics: close: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            timeouts.shutdownNow();
        }
    }
}
