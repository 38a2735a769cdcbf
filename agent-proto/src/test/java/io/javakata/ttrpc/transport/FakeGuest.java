package io.javakata.ttrpc.transport;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The far end of a transport on a real Unix socket, behaving as a guest (and, with {@code handshake}, as the VMM's
 * hybrid vsock socket in front of it: the CONNECT/OK handshake of Cloud Hypervisor's docs/vsock.md) does in each
 * case the contract checks.
 */
final class FakeGuest implements AutoCloseable {

    /** What the guest does with each connection. */
    enum Behaviour {
        /** Answers (OK line with a handshake) and echoes every byte. */
        ANSWER,
        /** Nobody listens: no socket at all without a handshake; with one, the VMM closes after CONNECT. */
        REFUSE,
        /** Sends "ERR 111\n" where the OK line belongs (without a handshake: as its first bytes), then echoes. */
        WRONG_LINE,
        /** Accepts and never answers nor reads. */
        SILENT
    }

    static final String WRONG_LINE = "ERR 111\n";

    private final Path socket;
    private final boolean handshake;
    private final Behaviour behaviour;
    private final ServerSocketChannel server;
    private final List<SocketChannel> peers = new CopyOnWriteArrayList<>();
    final List<String> handshakes = new CopyOnWriteArrayList<>();

    FakeGuest(Path socket, boolean handshake, Behaviour behaviour) throws IOException {
        this.socket = socket;
        this.handshake = handshake;
        this.behaviour = behaviour;
        if (behaviour == Behaviour.REFUSE && !handshake) {
            server = null;
            return;
        }
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        Thread.ofVirtual().name("fake-guest-accept").start(this::acceptLoop);
    }

    private void acceptLoop() {
        while (true) {
            SocketChannel peer;
            try {
                peer = server.accept();
            } catch (IOException closed) {
                return;
            }
            peers.add(peer);
            Thread.ofVirtual().name("fake-guest-peer").start(() -> serve(peer));
        }
    }

    private void serve(SocketChannel peer) {
        try {
            if (handshake) {
                handshakes.add(readLine(peer));
            }
            switch (behaviour) {
                case ANSWER -> {
                    if (handshake) {
                        write(peer, "OK 1073741824\n");
                    }
                    echo(peer);
                }
                case REFUSE -> peer.close();
                case WRONG_LINE -> {
                    write(peer, WRONG_LINE);
                    echo(peer);
                }
                case SILENT -> {
                    // holds the connection open and says nothing until the test or close() ends it
                }
            }
        } catch (IOException ended) {
            // the transport closed its end
        }
    }

    /** Drops every connection at once, as a guest that dies does. */
    void dropConnections() throws IOException {
        for (SocketChannel peer : peers) {
            peer.close();
        }
    }

    /** Whether every connection the guest accepted has been closed by the transport (end of stream seen). */
    boolean allPeersClosed() {
        for (SocketChannel peer : peers) {
            if (peer.isOpen()) {
                return false;
            }
        }
        return true;
    }

    int connections() {
        return peers.size();
    }

    @Override
    public void close() throws IOException {
        if (server != null) {
            server.close();
        }
        dropConnections();
        Files.deleteIfExists(socket);
    }

    private static void write(SocketChannel peer, String text) throws IOException {
        ByteBuffer buffer = ByteBuffer.wrap(text.getBytes(StandardCharsets.US_ASCII));
        while (buffer.hasRemaining()) {
            peer.write(buffer);
        }
    }

    private static String readLine(SocketChannel peer) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        ByteBuffer one = ByteBuffer.allocate(1);
        while (peer.read(one.clear()) == 1 && one.get(0) != '\n') {
            line.write(one.get(0));
        }
        return line.toString(StandardCharsets.US_ASCII);
    }

    /** Echoes until the transport closes its end, then closes this one (so the peer is seen closed). */
    private static void echo(SocketChannel peer) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(64 * 1024);
        try (peer) {
            while (peer.read(buffer.clear()) > 0) {
                buffer.flip();
                while (buffer.hasRemaining()) {
                    peer.write(buffer);
                }
            }
        }
    }
}
