package io.javakata.sys;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * Passing file descriptors over AF_UNIX stream sockets with {@code SCM_RIGHTS} (unix(7)), which the JDK's
 * socket channels cannot do. The guest agent uses it for the OCI runtime's {@code --console-socket}: the runtime
 * connects, sends the pty master of a terminal process, and leaves; the shim hands a clone's tap descriptors to
 * QEMU's QMP {@code getfd}.
 *
 * <p>All calls block at most as documented and pin their carrier thread while in native code; every
 * descriptor made here is close-on-exec.
 */
public final class FdPassing {

    static final int AF_UNIX = 1;
    static final int SOCK_STREAM = 1;
    static final int SOCK_CLOEXEC = 0x80000;
    static final int SOL_SOCKET = 1;
    static final int SCM_RIGHTS = 1;
    static final int MSG_CMSG_CLOEXEC = 0x40000000;
    static final short POLLIN = 1;
    private static final int PAYLOAD_BYTES = 4096;

    private FdPassing() {
    }

    /**
     * A listening AF_UNIX stream socket bound to a path; {@link #close()} closes it and deletes the path.
     * Not thread-safe: one owner accepts.
     */
    public static final class Listener implements AutoCloseable {
        private final int fd;
        private final Path path;
        private boolean closed;

        private Listener(int fd, Path path) {
            this.fd = fd;
            this.path = path;
        }

        public Path path() {
            return path;
        }

        /**
         * Waits at most {@code timeout} for one connection, then returns the descriptor it carries (see
         * {@link FdPassing#receiveFd}) and closes the connection. A peer that already connected, sent and
         * closed is still served: its message waits in the socket.
         *
         * @throws IOException "accept(&lt;path&gt;): no connection within &lt;n&gt; ms" on timeout
         */
        public int acceptFd(Duration timeout) throws IOException {
            if (!poll(fd, timeout)) {
                throw new IOException("accept(" + path + "): no connection within " + timeout.toMillis() + " ms");
            }
            int connection = accept(fd, path);
            try {
                return receiveFd(connection);
            } finally {
                Fds.close(connection);
            }
        }

        @Override
        public void close() {
            if (closed) {
                return;
            }
            closed = true;
            Fds.close(fd);
            try {
                Files.deleteIfExists(path);
            } catch (IOException e) {
                System.getLogger(FdPassing.class.getName()).log(System.Logger.Level.WARNING,
                        "remove " + path + ": " + e.getMessage());
            }
        }
    }

    /** Binds and listens on {@code path} (removing a stale socket file first). */
    public static Listener listen(Path path) throws IOException {
        Files.deleteIfExists(path);
        byte[] name = socketName(path);
        int fd = socket("socket(AF_UNIX) for " + path);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment address = address(arena, name);
            MemorySegment state = LibC.callState(arena);
            int result = (int) UnixCalls.BIND.invokeExact(state, fd, address, (int) UnixLayouts.SOCKADDR_UN.byteSize());
            LibC.check("bind(" + path + ")", result, state);
            result = (int) UnixCalls.LISTEN.invokeExact(state, fd, 4);
            LibC.check("listen(" + path + ")", result, state);
            return new Listener(fd, path);
        } catch (Throwable t) {
            Fds.close(fd);
            Files.deleteIfExists(path);
            throw rethrow(t);
        }
    }

    /**
     * Connects an AF_UNIX stream socket (close-on-exec) to the listening socket at {@code path} and returns it. A
     * listener's backlog takes the connection at once, so this does not wait for the peer to accept it.
     *
     * @throws IOException "connect(&lt;path&gt;): …" with the errno, e.g. ECONNREFUSED when nothing listens there
     */
    public static int connect(Path path) throws IOException {
        byte[] name = socketName(path);
        int fd = socket("socket(AF_UNIX) for " + path);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment address = address(arena, name);
            MemorySegment state = LibC.callState(arena);
            int result = (int) LibC.CONNECT.invokeExact(state, fd, address, (int) UnixLayouts.SOCKADDR_UN.byteSize());
            LibC.check("connect(" + path + ")", result, state);
            return fd;
        } catch (Throwable t) {
            Fds.close(fd);
            throw rethrow(t);
        }
    }

    /**
     * Reads what {@code fd} has, up to {@code buffer.length} bytes, waiting at most {@code timeout} for any; returns
     * how many, 0 when the peer closed.
     *
     * @throws IOException "read(fd &lt;n&gt;): nothing within &lt;n&gt; ms" when nothing came in time
     */
    public static int read(int fd, byte[] buffer, Duration timeout) throws IOException {
        if (!poll(fd, timeout)) {
            throw new IOException("read(fd " + fd + "): nothing within " + timeout.toMillis() + " ms");
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(Math.max(1, buffer.length));
            MemorySegment state = LibC.callState(arena);
            long n = (long) LibC.READ.invokeExact(state, fd, data, (long) buffer.length);
            LibC.check("read(fd " + fd + ")", n, state);
            MemorySegment.copy(data, JAVA_BYTE, 0, buffer, 0, (int) n);
            return (int) n;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static byte[] socketName(Path path) throws IOException {
        byte[] name = path.toString().getBytes(StandardCharsets.UTF_8);
        if (name.length >= 108) {
            throw new IOException("socket path " + path + ": " + name.length + " bytes, must be under 108");
        }
        return name;
    }

    private static MemorySegment address(Arena arena, byte[] name) {
        MemorySegment address = arena.allocate(UnixLayouts.SOCKADDR_UN);
        address.fill((byte) 0);
        address.set(JAVA_SHORT, UnixLayouts.offset(UnixLayouts.SOCKADDR_UN, "sun_family"), (short) AF_UNIX);
        MemorySegment.copy(name, 0, address, JAVA_BYTE, UnixLayouts.offset(UnixLayouts.SOCKADDR_UN, "sun_path"),
                name.length);
        return address;
    }

    /**
     * Receives one message on a connected socket and returns the single descriptor it carries in an
     * {@code SCM_RIGHTS} control message (close-on-exec). Blocks until a message arrives.
     *
     * @throws IOException when the peer closed without sending, or sent no descriptor
     */
    public static int receiveFd(int socketFd) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment payload = arena.allocate(PAYLOAD_BYTES);
            MemorySegment control = arena.allocate(UnixLayouts.CMSG_ONE_FD);
            control.fill((byte) 0);
            MemorySegment msg = message(arena, payload, PAYLOAD_BYTES, control);
            MemorySegment state = LibC.callState(arena);
            long n = (long) UnixCalls.RECVMSG.invokeExact(state, socketFd, msg, MSG_CMSG_CLOEXEC);
            LibC.check("recvmsg(fd " + socketFd + ")", n, state);
            long controlLen = msg.get(JAVA_LONG, UnixLayouts.offset(UnixLayouts.MSGHDR, "msg_controllen"));
            if (controlLen < UnixLayouts.CMSG_LEN_ONE_FD
                    || control.get(JAVA_INT, UnixLayouts.offset(UnixLayouts.CMSG_ONE_FD, "cmsg_level")) != SOL_SOCKET
                    || control.get(JAVA_INT, UnixLayouts.offset(UnixLayouts.CMSG_ONE_FD, "cmsg_type")) != SCM_RIGHTS) {
                throw new IOException("recvmsg(fd " + socketFd + "): " + (n == 0 ? "peer closed" : n + " bytes")
                        + " without an SCM_RIGHTS descriptor");
            }
            return control.get(JAVA_INT, UnixLayouts.offset(UnixLayouts.CMSG_ONE_FD, "cmsg_data"));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Sends {@code payload} (at least one byte) with {@code fd} attached as {@code SCM_RIGHTS}. */
    public static void sendFd(int socketFd, int fd, byte[] payload) throws IOException {
        if (payload.length == 0) {
            throw new IllegalArgumentException("payload: must hold at least one byte (stream sockets drop empty messages)");
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocateFrom(JAVA_BYTE, payload);
            MemorySegment control = arena.allocate(UnixLayouts.CMSG_ONE_FD);
            control.fill((byte) 0);
            control.set(JAVA_LONG, UnixLayouts.offset(UnixLayouts.CMSG_ONE_FD, "cmsg_len"), UnixLayouts.CMSG_LEN_ONE_FD);
            control.set(JAVA_INT, UnixLayouts.offset(UnixLayouts.CMSG_ONE_FD, "cmsg_level"), SOL_SOCKET);
            control.set(JAVA_INT, UnixLayouts.offset(UnixLayouts.CMSG_ONE_FD, "cmsg_type"), SCM_RIGHTS);
            control.set(JAVA_INT, UnixLayouts.offset(UnixLayouts.CMSG_ONE_FD, "cmsg_data"), fd);
            MemorySegment msg = message(arena, data, payload.length, control);
            MemorySegment state = LibC.callState(arena);
            long n = (long) UnixCalls.SENDMSG.invokeExact(state, socketFd, msg, 0);
            LibC.check("sendmsg(fd " + socketFd + ", passing fd " + fd + ")", n, state);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** socketpair(AF_UNIX, SOCK_STREAM): two connected descriptors. */
    public static int[] socketPair() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment fds = arena.allocate(JAVA_INT, 2);
            MemorySegment state = LibC.callState(arena);
            int result = (int) UnixCalls.SOCKETPAIR.invokeExact(state, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
            LibC.check("socketpair(AF_UNIX)", result, state);
            return new int[] {fds.getAtIndex(JAVA_INT, 0), fds.getAtIndex(JAVA_INT, 1)};
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static MemorySegment message(Arena arena, MemorySegment data, long length, MemorySegment control) {
        MemorySegment iov = arena.allocate(UnixLayouts.IOVEC);
        iov.set(ADDRESS, UnixLayouts.offset(UnixLayouts.IOVEC, "iov_base"), data);
        iov.set(JAVA_LONG, UnixLayouts.offset(UnixLayouts.IOVEC, "iov_len"), length);
        MemorySegment msg = arena.allocate(UnixLayouts.MSGHDR);
        msg.fill((byte) 0);
        msg.set(ADDRESS, UnixLayouts.offset(UnixLayouts.MSGHDR, "msg_iov"), iov);
        msg.set(JAVA_LONG, UnixLayouts.offset(UnixLayouts.MSGHDR, "msg_iovlen"), 1L);
        msg.set(ADDRESS, UnixLayouts.offset(UnixLayouts.MSGHDR, "msg_control"), control);
        msg.set(JAVA_LONG, UnixLayouts.offset(UnixLayouts.MSGHDR, "msg_controllen"), control.byteSize());
        return msg;
    }

    private static int socket(String what) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = LibC.callState(arena);
            int fd = (int) LibC.SOCKET.invokeExact(state, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            return (int) LibC.check(what, fd, state);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** True when {@code fd} became readable within {@code timeout}. */
    static boolean poll(int fd, Duration timeout) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment pollfd = arena.allocate(UnixLayouts.POLLFD);
            pollfd.set(JAVA_INT, UnixLayouts.offset(UnixLayouts.POLLFD, "fd"), fd);
            pollfd.set(JAVA_SHORT, UnixLayouts.offset(UnixLayouts.POLLFD, "events"), POLLIN);
            pollfd.set(JAVA_SHORT, UnixLayouts.offset(UnixLayouts.POLLFD, "revents"), (short) 0);
            MemorySegment state = LibC.callState(arena);
            int millis = (int) Math.min(Integer.MAX_VALUE, timeout.toMillis());
            int result = (int) UnixCalls.POLL.invokeExact(state, pollfd, 1L, millis);
            return LibC.check("poll(fd " + fd + ")", result, state) > 0;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static int accept(int fd, Path path) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = LibC.callState(arena);
            int result = (int) UnixCalls.ACCEPT4.invokeExact(state, fd, MemorySegment.NULL, MemorySegment.NULL,
                    SOCK_CLOEXEC);
            return (int) LibC.check("accept(" + path + ")", result, state);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    static IOException rethrow(Throwable t) {
        if (t instanceof IOException e) {
            return e;
        }
        throw LibC.propagate(t);
    }
}
