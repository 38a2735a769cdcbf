package io.javakata.sys;

import io.javakata.ttrpc.transport.Connection;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A listening AF_VSOCK stream socket: the guest's end of the agent channel when the VM carries a virtio-vsock
 * device (vhost-vsock, or a vhost-user backend behind hybrid vsock). Bound to {@code VMADDR_CID_ANY}
 * (linux/vm_sockets.h), so it accepts from the host whatever CID the VMM gave the guest.
 *
 * <p>{@link #accept()} blocks in native code and pins its carrier: call it from a platform thread.
 * {@link #close()} shuts the socket down first, which makes a blocked accept fail, then closes it.
 */
public final class VsockListener implements AutoCloseable {

    /** VMADDR_CID_ANY, linux/vm_sockets.h: -1U. */
    static final long CID_ANY = 0xFFFF_FFFFL;
    private static final int SHUT_RDWR = 2;

    private final int fd;
    private final int port;
    private volatile boolean closed;

    private VsockListener(int fd, int port) {
        this.fd = fd;
        this.port = port;
    }

    /**
     * Binds {@code port} on every CID of this machine and listens.
     *
     * @throws ErrnoException e.g. "bind(vsock port=1024) failed: errno 98 EADDRINUSE (Address in use)"; errno 97
     *                        EAFNOSUPPORT when the kernel has no vsock support loaded
     */
    public static VsockListener listen(int port) throws IOException {
        String what = "vsock port=" + port;
        int fd = VsockSocket.socket(what);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment address = VsockSocket.sockaddr(arena, CID_ANY, port);
            MemorySegment state = LibC.callState(arena);
            int result = (int) UnixCalls.BIND.invokeExact(state, fd, address, (int) Layouts.SOCKADDR_VM.byteSize());
            LibC.check("bind(" + what + ")", result, state);
            result = (int) UnixCalls.LISTEN.invokeExact(state, fd, 4);
            LibC.check("listen(" + what + ")", result, state);
            return new VsockListener(fd, port);
        } catch (Throwable t) {
            Fds.close(fd);
            if (t instanceof IOException e) {
                throw e;
            }
            throw LibC.propagate(t);
        }
    }

    /** Waits for the next connection; fails once {@link #close()} was called. */
    public Connection accept() throws IOException {
        while (true) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment state = LibC.callState(arena);
                int connection = (int) UnixCalls.ACCEPT4.invokeExact(state, fd, MemorySegment.NULL,
                        MemorySegment.NULL, VsockSocket.SOCK_CLOEXEC);
                try {
                    LibC.check("accept(vsock port=" + port + ")", connection, state);
                } catch (ErrnoException e) {
                    if (e.errno() == LibC.EINTR && !closed) {
                        continue;
                    }
                    throw e;
                }
                return new VsockConnection(connection, "vsock:listener:" + port);
            } catch (IOException e) {
                throw e;
            } catch (Throwable t) {
                throw LibC.propagate(t);
            }
        }
    }

    public int port() {
        return port;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = LibC.callState(arena);
            int ignored = (int) LibC.SHUTDOWN.invokeExact(state, fd, SHUT_RDWR);
        } catch (Throwable t) {
            throw LibC.propagate(t);
        }
        Fds.close(fd);
    }
}
