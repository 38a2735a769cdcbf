package io.javakata.sys;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

/**
 * A NETLINK_ROUTE socket (rtnetlink(7)) and the few requests that configure a pod's interfaces: find a link by
 * name, move it into another network namespace, rename it, set its MTU, bring it up, add an address, add a route.
 * What busybox {@code ip} sends for the same commands, without starting a process for each.
 *
 * <p>Every request asks for an acknowledgement ({@code NLM_F_ACK}) and waits for it, at most
 * {@link #ANSWER_TIMEOUT} (the socket's {@code SO_RCVTIMEO}); rtnetlink handles a request in the sender's
 * system call, so the answer is normally queued before the write returns. A request the kernel refuses throws
 * {@link ErrnoException} naming it, e.g. "rtnetlink add route default via 10.88.0.1 dev 2 failed: errno 17 EEXIST
 * (File exists)".
 *
 * <p>The layouts are those of include/uapi/linux/netlink.h ({@code struct nlmsghdr}, 16 bytes; {@code struct
 * nlmsgerr}), rtnetlink.h ({@code struct rtattr}, 4 bytes, payloads aligned to 4; {@code struct ifinfomsg}, 16;
 * {@code struct rtmsg}, 12), if_addr.h ({@code struct ifaddrmsg}, 8) and if_link.h (the IFLA_ attributes), in the
 * host's byte order. A socket belongs to the network namespace of the thread that made it: {@link #openIn} makes
 * one inside another namespace through {@link Namespaces#inNetwork}.
 *
 * <p>Not thread-safe: one caller at a time, as a request and its answer share the socket.
 */
public final class RouteNetlink implements AutoCloseable {

    static final int AF_NETLINK = 16;
    static final int SOCK_RAW = 3;
    static final int SOCK_CLOEXEC = 0x80000;
    static final int NETLINK_ROUTE = 0;
    /** asm-generic/socket.h: SOL_SOCKET and SO_RCVTIMEO (the "_OLD" value, a 64-bit struct timeval on x86-64). */
    static final int SOL_SOCKET = 1;
    static final int SO_RCVTIMEO = 20;

    static final short NLMSG_ERROR = 2;
    static final short RTM_NEWLINK = 16;
    static final short RTM_GETLINK = 18;
    static final short RTM_NEWADDR = 20;
    static final short RTM_NEWROUTE = 24;
    static final short NLM_F_REQUEST = 0x1;
    static final short NLM_F_ACK = 0x4;
    static final short NLM_F_EXCL = 0x200;
    static final short NLM_F_CREATE = 0x400;
    static final short IFLA_IFNAME = 3;
    static final short IFLA_MTU = 4;
    static final short IFLA_NET_NS_PID = 19;
    static final short IFA_ADDRESS = 1;
    static final short IFA_LOCAL = 2;
    static final short RTA_DST = 1;
    static final short RTA_OIF = 4;
    static final short RTA_GATEWAY = 5;
    static final short RTA_PREFSRC = 7;
    static final int IFF_UP = 0x1;
    /** The address families of {@link #addRoute}. */
    public static final int AF_INET = 2;
    public static final int AF_INET6 = 10;
    static final int RT_TABLE_MAIN = 254;
    static final int RTPROT_BOOT = 3;
    static final int RT_SCOPE_UNIVERSE = 0;
    static final int RT_SCOPE_LINK = 253;
    static final int RTN_UNICAST = 1;

    static final int NLMSG_HDRLEN = 16;
    /** asm-generic/errno-base.h: what a read past SO_RCVTIMEO fails with. */
    static final int EAGAIN = 11;
    /** Room for one answer: an acknowledgement is 36 bytes, one link's RTM_NEWLINK with its statistics ~1.5 KiB. */
    static final int ANSWER_BYTES = 32 * 1024;
    /** How long a request may wait for the kernel's answer. */
    public static final Duration ANSWER_TIMEOUT = Duration.ofSeconds(5);

    private final int fd;
    private final String namespace;
    private int sequence;
    private boolean closed;

    private RouteNetlink(int fd, String namespace) {
        this.fd = fd;
        this.namespace = namespace;
    }

    /** A socket in the calling thread's network namespace. */
    public static RouteNetlink open() throws ErrnoException {
        return open("the caller's network namespace");
    }

    /** A socket in the network namespace {@code netns} (/proc/PID/ns/net, or a bind-mounted namespace file). */
    public static RouteNetlink openIn(Path netns) throws IOException {
        return Namespaces.inNetwork(netns, () -> open(netns.toString()));
    }

    private static RouteNetlink open(String namespace) throws ErrnoException {
        int fd;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = LibC.callState(arena);
            int result = (int) LibC.SOCKET.invokeExact(state, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
            fd = (int) LibC.check("socket(AF_NETLINK, NETLINK_ROUTE) in " + namespace, result, state);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw LibC.propagate(t);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment tv = Layouts.timeval(arena, ANSWER_TIMEOUT);
            MemorySegment state = LibC.callState(arena);
            int result = (int) LibC.SETSOCKOPT.invokeExact(state, fd, SOL_SOCKET, SO_RCVTIMEO, tv,
                    (int) Layouts.TIMEVAL.byteSize());
            LibC.check("setsockopt(SO_RCVTIMEO) on rtnetlink", result, state);
        } catch (Throwable t) {
            Fds.close(fd);
            if (t instanceof ErrnoException e) {
                throw e;
            }
            throw LibC.propagate(t);
        }
        return new RouteNetlink(fd, namespace);
    }

    /** The index of the link called {@code name}; ENODEV if there is none. */
    public int linkIndex(String name) throws IOException {
        byte[] answer = exchange(getLink(++sequence, name), "rtnetlink find link " + name);
        if (answer == null || answer.length < NLMSG_HDRLEN + 16) {
            throw new IOException("rtnetlink find link " + name + ": the kernel answered without the link");
        }
        return ByteBuffer.wrap(answer).order(ByteOrder.nativeOrder()).getInt(NLMSG_HDRLEN + 4);
    }

    /** Moves link {@code index} into the network namespace of process {@code pid} (the link goes down). */
    public void moveToNetnsOf(int index, int pid) throws IOException {
        exchange(setLink(++sequence, index, 0, 0).putInt(IFLA_NET_NS_PID, pid).bytes(),
                "rtnetlink move link " + index + " to the netns of pid " + pid);
    }

    /** Renames link {@code index} (it must be down). */
    public void rename(int index, String name) throws IOException {
        exchange(setLink(++sequence, index, 0, 0).putString(IFLA_IFNAME, name).bytes(),
                "rtnetlink rename link " + index + " to " + name);
    }

    public void setMtu(int index, int mtu) throws IOException {
        exchange(setLink(++sequence, index, 0, 0).putInt(IFLA_MTU, mtu).bytes(),
                "rtnetlink set mtu " + mtu + " on link " + index);
    }

    public void setUp(int index) throws IOException {
        exchange(setLink(++sequence, index, IFF_UP, IFF_UP).bytes(), "rtnetlink set link " + index + " up");
    }

    /** Adds {@code address}/{@code prefixLength} to link {@code index}, as {@code ip addr add} does. */
    public void addAddress(int index, InetAddress address, int prefixLength) throws IOException {
        exchange(addressMessage(++sequence, index, address, prefixLength),
                "rtnetlink add address " + address.getHostAddress() + "/" + prefixLength + " to link " + index);
    }

    /**
     * Adds a unicast route to the main table: to {@code destination}/{@code prefixLength} (null and 0 for the
     * default route), through {@code gateway} (null: the destination is on the link, scope link), out of link
     * {@code outIndex} (0: the kernel chooses), preferring {@code source} (null: none) as the source address.
     */
    public void addRoute(int family, InetAddress destination, int prefixLength, InetAddress gateway, int outIndex,
            InetAddress source) throws IOException {
        exchange(routeMessage(++sequence, family, destination, prefixLength, gateway, outIndex, source),
                "rtnetlink add route " + (destination == null ? "default" : destination.getHostAddress() + "/"
                        + prefixLength) + (gateway == null ? "" : " via " + gateway.getHostAddress())
                        + (outIndex == 0 ? "" : " dev " + outIndex)
                        + (source == null ? "" : " src " + source.getHostAddress()));
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            Fds.close(fd);
        }
    }

    /**
     * Sends {@code request} and reads until the message answering it: returns it if it is data (RTM_GETLINK's
     * answer), null for an acknowledgement, and throws for a refusal.
     */
    private byte[] exchange(byte[] request, String what) throws IOException {
        if (closed) {
            throw new IOException(what + ": the rtnetlink socket is closed");
        }
        int wanted = ByteBuffer.wrap(request).order(ByteOrder.nativeOrder()).getInt(8);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocateFrom(JAVA_BYTE, request);
            MemorySegment state = LibC.callState(arena);
            long written = (long) LibC.WRITE.invokeExact(state, fd, out, (long) request.length);
            LibC.check("write(" + what + ") in " + namespace, written, state);
            MemorySegment in = arena.allocate(ANSWER_BYTES);
            while (true) {
                state = LibC.callState(arena);
                long read = (long) LibC.READ.invokeExact(state, fd, in, (long) ANSWER_BYTES);
                try {
                    LibC.check("read(answer to " + what + ") in " + namespace, read, state);
                } catch (ErrnoException e) {
                    if (e.errno() == EAGAIN) {
                        throw new IOException(what + ": no answer from the kernel within " + ANSWER_TIMEOUT, e);
                    }
                    throw e;
                }
                byte[] answer = answerTo(in.asSlice(0, read).toArray(JAVA_BYTE), wanted, what);
                if (answer != null) {
                    return answer.length == 0 ? null : answer;
                }
            }
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw LibC.propagate(t);
        }
    }

    /**
     * Among the messages of one datagram, the one with sequence number {@code wanted}: its bytes if it carries
     * data, an empty array for an acknowledgement (NLMSG_ERROR with error 0), null if none answers it; a refusal
     * (NLMSG_ERROR with a negative errno) throws.
     */
    static byte[] answerTo(byte[] datagram, int wanted, String what) throws IOException {
        ByteBuffer buffer = ByteBuffer.wrap(datagram).order(ByteOrder.nativeOrder());
        int at = 0;
        while (at + NLMSG_HDRLEN <= datagram.length) {
            int length = buffer.getInt(at);
            if (length < NLMSG_HDRLEN || at + length > datagram.length) {
                throw new IOException(what + ": a malformed answer (message length " + length + " at byte " + at
                        + " of " + datagram.length + ")");
            }
            short type = buffer.getShort(at + 4);
            int sequence = buffer.getInt(at + 8);
            if (sequence == wanted) {
                if (type != NLMSG_ERROR) {
                    byte[] message = new byte[length];
                    System.arraycopy(datagram, at, message, 0, length);
                    return message;
                }
                if (length < NLMSG_HDRLEN + 4) {
                    throw new IOException(what + ": a truncated acknowledgement");
                }
                int error = buffer.getInt(at + NLMSG_HDRLEN);
                if (error != 0) {
                    throw new ErrnoException(what, -error);
                }
                return new byte[0];
            }
            at += align(length);
        }
        return null;
    }

    static byte[] getLink(int sequence, String name) {
        return new Message(RTM_GETLINK, NLM_F_REQUEST, sequence).ifinfo(0, 0, 0).putString(IFLA_IFNAME, name).bytes();
    }

    static Message setLink(int sequence, int index, int flags, int change) {
        return new Message(RTM_NEWLINK, (short) (NLM_F_REQUEST | NLM_F_ACK), sequence).ifinfo(index, flags, change);
    }

    static byte[] addressMessage(int sequence, int index, InetAddress address, int prefixLength) {
        byte[] raw = address.getAddress();
        return new Message(RTM_NEWADDR, (short) (NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL), sequence)
                .ifaddr(family(address), prefixLength, index)
                .putBytes(IFA_LOCAL, raw).putBytes(IFA_ADDRESS, raw).bytes();
    }

    static byte[] routeMessage(int sequence, int family, InetAddress destination, int prefixLength,
            InetAddress gateway, int outIndex, InetAddress source) {
        Message message = new Message(RTM_NEWROUTE, (short) (NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL),
                sequence).rtmsg(family, destination == null ? 0 : prefixLength,
                gateway == null ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE);
        if (destination != null) {
            message.putBytes(RTA_DST, destination.getAddress());
        }
        if (gateway != null) {
            message.putBytes(RTA_GATEWAY, gateway.getAddress());
        }
        if (outIndex > 0) {
            message.putInt(RTA_OIF, outIndex);
        }
        if (source != null) {
            message.putBytes(RTA_PREFSRC, source.getAddress());
        }
        return message.bytes();
    }

    static int family(InetAddress address) {
        return address instanceof Inet4Address ? AF_INET : AF_INET6;
    }

    static int align(int length) {
        return (length + 3) & ~3;
    }

    /** One request being laid out: its header, then a fixed family message, then attributes. */
    static final class Message {
        private final ByteBuffer buffer = ByteBuffer.allocate(512).order(ByteOrder.nativeOrder());

        Message(short type, short flags, int sequence) {
            buffer.putInt(0).putShort(type).putShort(flags).putInt(sequence).putInt(0);
        }

        /** {@code struct ifinfomsg}: AF_UNSPEC, the link, its flags and which of them change. */
        Message ifinfo(int index, int flags, int change) {
            buffer.put((byte) 0).put((byte) 0).putShort((short) 0).putInt(index).putInt(flags).putInt(change);
            return this;
        }

        /** {@code struct ifaddrmsg}: family, prefix length, no flags, scope universe, the link. */
        Message ifaddr(int family, int prefixLength, int index) {
            buffer.put((byte) family).put((byte) prefixLength).put((byte) 0).put((byte) 0).putInt(index);
            return this;
        }

        /** {@code struct rtmsg} of a unicast route in the main table, as {@code ip route add} sets it. */
        Message rtmsg(int family, int destinationLength, int scope) {
            buffer.put((byte) family).put((byte) destinationLength).put((byte) 0).put((byte) 0)
                    .put((byte) RT_TABLE_MAIN).put((byte) RTPROT_BOOT).put((byte) scope).put((byte) RTN_UNICAST)
                    .putInt(0);
            return this;
        }

        Message putInt(short type, int value) {
            buffer.putShort((short) 8).putShort(type).putInt(value);
            return this;
        }

        /** A NUL-terminated string attribute, as the kernel's IFLA_IFNAME policy expects. */
        Message putString(short type, String value) {
            byte[] text = value.getBytes(StandardCharsets.UTF_8);
            byte[] terminated = new byte[text.length + 1];
            System.arraycopy(text, 0, terminated, 0, text.length);
            return putBytes(type, terminated);
        }

        Message putBytes(short type, byte[] value) {
            if (value.length > 255) {
                throw new IllegalArgumentException("a netlink attribute of " + value.length + " bytes: at most 255");
            }
            buffer.putShort((short) (4 + value.length)).putShort(type).put(value);
            for (int pad = align(value.length) - value.length; pad > 0; pad--) {
                buffer.put((byte) 0);
            }
            return this;
        }

        /** The finished message, its length written into its header. */
        byte[] bytes() {
            buffer.putInt(0, buffer.position());
            byte[] out = new byte[buffer.position()];
            buffer.get(0, out);
            return out;
        }
    }
}
