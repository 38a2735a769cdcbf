package io.javakata.it;

import java.io.IOException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A DNS server for one name (RFC 1035 over UDP): an A query for {@code name} is answered with {@code address}, an
 * AAAA or other query for it with no answer (NOERROR), any other name with NXDOMAIN. Each query is recorded with
 * its sender, so a test can tell that a pod asked this server. Runs on a daemon thread until {@link #close()}.
 */
final class DnsResponder implements AutoCloseable {

    /** One question received: who asked, for which name, which type (1 = A, 28 = AAAA). */
    record Query(InetAddress from, String name, int type) {
    }

    private static final int TYPE_A = 1;
    private static final int CLASS_IN = 1;

    private final String name;
    private final byte[] address;
    private final DatagramSocket socket;
    private final List<Query> queries = new CopyOnWriteArrayList<>();
    private final Thread thread;

    /** Binds UDP {@code bind:53} and starts answering. */
    DnsResponder(InetAddress bind, String name, InetAddress address) throws SocketException {
        this.name = name.toLowerCase(Locale.ROOT);
        this.address = address.getAddress();
        this.socket = new DatagramSocket(new InetSocketAddress(bind, 53));
        this.thread = Thread.ofPlatform().daemon().name("dns-" + bind.getHostAddress()).start(this::serve);
    }

    List<Query> queries() {
        return List.copyOf(queries);
    }

    private void serve() {
        byte[] buffer = new byte[512];
        while (!socket.isClosed()) {
            DatagramPacket packet = new DatagramPacket(buffer, buffer.length);
            try {
                socket.receive(packet);
                byte[] reply = answer(ByteBuffer.wrap(packet.getData(), 0, packet.getLength()).slice(), packet.getAddress());
                if (reply != null) {
                    socket.send(new DatagramPacket(reply, reply.length, packet.getSocketAddress()));
                }
            } catch (IOException e) {
                if (socket.isClosed()) {
                    return;
                }
            }
        }
    }

    /** The response to one query, or null for a packet that is not a single-question query. */
    private byte[] answer(ByteBuffer query, InetAddress from) {
        if (query.remaining() < 12) {
            return null;
        }
        int id = query.getShort(0) & 0xffff;
        int flags = query.getShort(2) & 0xffff;
        int questions = query.getShort(4) & 0xffff;
        if ((flags & 0x8000) != 0 || questions != 1) {
            return null;
        }
        query.position(12);
        List<String> labels = new ArrayList<>();
        while (true) {
            if (!query.hasRemaining()) {
                return null;
            }
            int length = query.get() & 0xff;
            if (length == 0) {
                break;
            }
            if (length > 63 || query.remaining() < length) {
                return null;
            }
            byte[] label = new byte[length];
            query.get(label);
            labels.add(new String(label, StandardCharsets.US_ASCII));
        }
        if (query.remaining() < 4) {
            return null;
        }
        int type = query.getShort() & 0xffff;
        int qclass = query.getShort() & 0xffff;
        int questionEnd = query.position();
        String asked = String.join(".", labels).toLowerCase(Locale.ROOT);
        queries.add(new Query(from, asked, type));

        boolean known = asked.equals(name);
        boolean answered = known && type == TYPE_A && qclass == CLASS_IN;
        ByteBuffer reply = ByteBuffer.allocate(questionEnd + 16);
        reply.putShort((short) id);
        // QR, opcode 0, AA, RD copied, RA; rcode 0 (NOERROR) or 3 (NXDOMAIN)
        reply.putShort((short) (0x8000 | 0x0400 | (flags & 0x0100) | 0x0080 | (known ? 0 : 3)));
        reply.putShort((short) 1).putShort((short) (answered ? 1 : 0)).putShort((short) 0).putShort((short) 0);
        reply.put(query.array(), query.arrayOffset() + 12, questionEnd - 12);
        if (answered) {
            reply.putShort((short) 0xc00c); // the name: a pointer to the question's
            reply.putShort((short) TYPE_A).putShort((short) CLASS_IN).putInt(60).putShort((short) 4).put(address);
        }
        byte[] bytes = new byte[reply.position()];
        reply.flip().get(bytes);
        return bytes;
    }

    @Override
    public void close() {
        socket.close();
        try {
            thread.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
