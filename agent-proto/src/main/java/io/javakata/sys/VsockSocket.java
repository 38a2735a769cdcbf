package io.javakata.sys;

import io.javakata.ttrpc.transport.Connection;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * AF_VSOCK stream sockets through FFM: the JDK's SocketChannel cannot wrap a raw descriptor, so the whole
 * vsock path (socket, connect, read, write) stays in native calls, with {@code struct sockaddr_vm} laid out as
 * linux/vm_sockets.h declares it (16 bytes on x86-64).
 *
 * <p>Every call here blocks and pins its carrier thread while in native code; a reader of the returned
 * connection is best run on its own platform thread.
 */
public final class VsockSocket {

    static final int AF_VSOCK = 40;
    static final int SOCK_STREAM = 1;
    static final int SOCK_CLOEXEC = 0x80000;
    /** SO_VM_SOCKETS_CONNECT_TIMEOUT (the 64-bit "_OLD" value), set at level AF_VSOCK; a struct timeval. */
    static final int SO_VM_SOCKETS_CONNECT_TIMEOUT = 6;

    private VsockSocket() {
    }

    /**
     * Connects to {@code port} on context {@code cid} (2 is the host; a guest's cid as given to the VMM),
     * waiting at most {@code timeout} for the peer. One attempt: retries belong to the transport.
     *
     * @throws ErrnoException e.g. "connect(vsock cid=3 port=1024) failed: errno 19 ENODEV (No such device)"
     */
    public static Connection connect(long cid, int port, Duration timeout) throws IOException {
        String what = "vsock cid=" + cid + " port=" + port;
        int fd = socket(what);
        try (Arena arena = Arena.ofConfined()) {
            setConnectTimeout(arena, fd, timeout, what);
            MemorySegment address = sockaddr(arena, cid, port);
            MemorySegment state = LibC.callState(arena);
            int result = (int) LibC.CONNECT.invokeExact(state, fd, address, (int) Layouts.SOCKADDR_VM.byteSize());
            LibC.check("connect(" + what + ")", result, state);
            return new VsockConnection(fd, "vsock:" + cid + ":" + port);
        } catch (Throwable t) {
            Fds.close(fd);
            if (t instanceof IOException e) {
                throw e;
            }
            throw LibC.propagate(t);
        }
    }

    static int socket(String what) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = LibC.callState(arena);
            int fd = (int) LibC.SOCKET.invokeExact(state, AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
            return (int) LibC.check("socket(AF_VSOCK) for " + what, fd, state);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw LibC.propagate(t);
        }
    }

    private static void setConnectTimeout(Arena arena, int fd, Duration timeout, String what) throws Throwable {
        MemorySegment tv = Layouts.timeval(arena, timeout);
        MemorySegment state = LibC.callState(arena);
        int result = (int) LibC.SETSOCKOPT.invokeExact(state, fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, tv,
                (int) Layouts.TIMEVAL.byteSize());
        LibC.check("setsockopt(SO_VM_SOCKETS_CONNECT_TIMEOUT) for " + what, result, state);
    }

    /** A {@code struct sockaddr_vm} for {@code cid:port}; the zeroed allocation covers reserved and flags. */
    static MemorySegment sockaddr(Arena arena, long cid, int port) {
        MemorySegment address = arena.allocate(Layouts.SOCKADDR_VM);
        address.fill((byte) 0);
        address.set(JAVA_SHORT, Layouts.offset(Layouts.SOCKADDR_VM, "svm_family"), (short) AF_VSOCK);
        address.set(JAVA_INT, Layouts.offset(Layouts.SOCKADDR_VM, "svm_port"), port);
        address.set(JAVA_INT, Layouts.offset(Layouts.SOCKADDR_VM, "svm_cid"), (int) cid);
        address.set(JAVA_BYTE, Layouts.offset(Layouts.SOCKADDR_VM, "svm_flags"), (byte) 0);
        return address;
    }
}
