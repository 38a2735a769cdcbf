package io.javakata.shim.network;

import com.google.protobuf.Empty;
import io.javakata.agent.v1.ListListeningPortsRequest;
import io.javakata.agent.v1.ListListeningPortsResponse;
import io.javakata.agent.v1.OpenPortForwardRequest;
import io.javakata.agent.v1.OpenPortForwardResponse;
import io.javakata.agent.v1.PortForwardCloseRequest;
import io.javakata.agent.v1.PortForwardReadRequest;
import io.javakata.agent.v1.PortForwardReadResponse;
import io.javakata.shim.agent.TtrpcAgent;
import io.javakata.sys.Namespaces;
import io.javakata.ttrpc.TtrpcClient;
import io.javakata.ttrpc.TtrpcServer;
import io.javakata.ttrpc.transport.PipeConnection;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link PortForwarder} against a hostile fake agent (over a real ttrpc connection on a pipe) in a real
 * network namespace made with {@code ip netns add} (the tests run as root): the guest reports far more
 * listening ports than the bound, and never answers the reads of forwarded connections.
 */
@Timeout(60)
class PortForwarderTest {

    private static final String AGENT = "javakata.agent.v1.Agent";
    private static final int FIRST = 20_000;

    private final String name = "jk-pf-" + UUID.randomUUID().toString().substring(0, 8);
    private final Path netns = Path.of("/var/run/netns", name);
    private final Object lock = new Object();
    /** The ports the fake guest reports; guarded by lock. */
    private Set<Integer> guestPorts = new TreeSet<>();
    private final AtomicInteger opened = new AtomicInteger();
    private final CompletableFuture<Void> answerReads = new CompletableFuture<>();
    private TtrpcServer server;
    private TtrpcClient client;
    private PortForwarder forwarder;

    @BeforeEach
    void setUp() throws IOException {
        ip("netns", "add", name);
        ip("-n", name, "link", "set", "lo", "up");
        server = new TtrpcServer("fake-agent");
        server.registerUnary(AGENT, "ListListeningPorts", ListListeningPortsRequest.parser(), (ctx, q) -> {
            synchronized (lock) {
                long deadline = System.currentTimeMillis() + q.getWaitMs();
                while (guestPorts.equals(new TreeSet<>(q.getKnownTcpPortsList()))
                        && System.currentTimeMillis() < deadline) {
                    lock.wait(Math.max(1, deadline - System.currentTimeMillis()));
                }
                return ListListeningPortsResponse.newBuilder().addAllTcpPorts(guestPorts).build();
            }
        });
        server.registerUnary(AGENT, "OpenPortForward", OpenPortForwardRequest.parser(), (ctx, q) ->
                OpenPortForwardResponse.newBuilder().setStreamId("s" + opened.incrementAndGet()).build());
        server.registerUnary(AGENT, "ReadPortForward", PortForwardReadRequest.parser(), (ctx, q) -> {
            answerReads.get(); // a hostile guest: no answer until the test says so, then end of stream
            return PortForwardReadResponse.newBuilder().setEof(true).build();
        });
        server.registerUnary(AGENT, "ClosePortForward", PortForwardCloseRequest.parser(), (ctx, q) ->
                Empty.getDefaultInstance());
        PipeConnection[] pair = PipeConnection.pair();
        Thread.ofVirtual().start(() -> server.serve(pair[1]));
        client = new TtrpcClient(pair[0]);
        forwarder = PortForwarder.start(netns, new TtrpcAgent(client, Duration.ofSeconds(10)));
    }

    @AfterEach
    void tearDown() throws IOException {
        forwarder.close();
        client.close();
        server.close();
        ip("netns", "del", name);
    }

    private void report(IntStream ports) {
        synchronized (lock) {
            guestPorts = new TreeSet<>(ports.boxed().toList());
            lock.notifyAll();
        }
    }

    @Test
    void aGuestReportingThousandsOfPortsGetsAtMostTheBoundForwarded() throws Exception {
        report(IntStream.range(FIRST, FIRST + 2000));
        await(() -> forwarder.ports().size() == PortForwarder.MAX_PORTS, "the first ports are forwarded");
        assertEquals(IntStream.range(FIRST, FIRST + PortForwarder.MAX_PORTS).boxed().toList(),
                List.copyOf(forwarder.ports()), "the lowest ports first");
        assertEquals(2 * PortForwarder.MAX_PORTS, listeningSockets(), "127.0.0.1 and ::1 per port, nothing more");

        // Ports the guest closes free their slots for the next ones; the ones forwarded stay.
        report(IntStream.range(FIRST + 10, FIRST + 3000));
        await(() -> forwarder.ports().contains(FIRST + PortForwarder.MAX_PORTS + 9), "freed slots are reused");
        assertEquals(IntStream.range(FIRST + 10, FIRST + 10 + PortForwarder.MAX_PORTS).boxed().toList(),
                List.copyOf(forwarder.ports()));
        assertEquals(2 * PortForwarder.MAX_PORTS, listeningSockets());
    }

    @Test
    void connectionsBeyondTheBoundAreClosedAtOnceWhenTheGuestNeverAnswers() throws Exception {
        report(IntStream.of(FIRST));
        await(() -> forwarder.ports().contains(FIRST), "the port is forwarded");
        List<Socket> held = new ArrayList<>();
        try {
            for (int i = 0; i < PortForwarder.MAX_CONNECTIONS; i++) {
                held.add(connect());
            }
            await(() -> opened.get() == PortForwarder.MAX_CONNECTIONS, "every connection is relayed");
            try (Socket extra = connect()) {
                extra.setSoTimeout(10_000);
                assertEquals(-1, extra.getInputStream().read(), "the connection beyond the bound is closed");
            }
            assertEquals(PortForwarder.MAX_CONNECTIONS, opened.get(), "no agent call for the refused one");
            // Once the guest ends the relayed connections, their slots carry new ones again.
            answerReads.complete(null);
            for (Socket socket : held) {
                socket.setSoTimeout(10_000);
                assertEquals(-1, socket.getInputStream().read(), "the guest's end of stream reaches the client");
                socket.close(); // ends the other direction too: the relay is over
            }
            // A slot is free once its relay has also closed the guest stream, a moment after the client saw its
            // end; until then a new connection is still refused. Either way it ends at once (the guest now
            // answers every read with end of stream), so connect again until one is relayed.
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (opened.get() == PortForwarder.MAX_CONNECTIONS) {
                assertTrue(System.nanoTime() < deadline, "within 30 s: a new connection is relayed");
                try (Socket again = connect()) {
                    again.setSoTimeout(10_000);
                    assertEquals(-1, again.getInputStream().read(), "a new connection ends with the guest's");
                }
            }
            assertEquals(PortForwarder.MAX_CONNECTIONS + 1, opened.get(), "one new connection relayed");
        } finally {
            for (Socket socket : held) {
                socket.close();
            }
        }
    }

    private Socket connect() throws IOException {
        return Namespaces.inNetwork(netns, () -> {
            Socket socket = new Socket();
            socket.connect(new InetSocketAddress("127.0.0.1", FIRST), 5000);
            return socket;
        });
    }

    /** TCP sockets in LISTEN in the namespace (IPv4 and IPv6). */
    private long listeningSockets() throws IOException {
        return Namespaces.inNetwork(netns, () -> {
            long count = 0;
            for (String table : List.of("tcp", "tcp6")) {
                count += Files.readAllLines(Path.of("/proc/thread-self/net", table)).stream().skip(1)
                        .filter(line -> line.strip().split("\\s+")[3].equals("0A")).count();
            }
            return count;
        });
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "within 30 s: " + what);
            Thread.sleep(50);
        }
    }

    private static void ip(String... args) throws IOException {
        List<String> argv = new ArrayList<>(List.of("ip"));
        argv.addAll(List.of(args));
        CommandRunner.host().run(argv);
    }
}
