package io.javakata.ttrpc.transport;

import io.javakata.sys.VsockSocket;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * AF_VSOCK to a guest (vhost-vsock): connects to {@code port} on context {@code cid} through
 * {@link VsockSocket}, retrying with back-off until the timeout. Each attempt waits at most one second for
 * the guest. Blocking calls pin their carrier thread; see {@link VsockSocket}. Thread-safe.
 */
public final class VsockTransport implements Transport {

    private static final Duration MAX_ATTEMPT = Duration.ofSeconds(1);

    /** One connection attempt to {@code cid:port}, waiting at most {@code timeout}. */
    @FunctionalInterface
    interface Dialer {
        Connection dial(long cid, int port, Duration timeout) throws IOException;
    }

    private final long cid;
    private final int port;
    private final Dialer dialer;

    public VsockTransport(long cid, int port) {
        this(cid, port, VsockSocket::connect);
    }

    /** With another dialer: tests on a host without vhost-vsock put a fake guest behind it. */
    VsockTransport(long cid, int port, Dialer dialer) {
        if (cid < 0 || cid > 0xFFFF_FFFFL) {
            throw new IllegalArgumentException("cid=" + cid + ": must be an unsigned 32-bit value");
        }
        this.cid = cid;
        this.port = port;
        this.dialer = dialer;
    }

    @Override
    public Connection connect(Duration timeout, CompletableFuture<?> giveUp) throws IOException {
        return Retry.until(describe(), timeout, giveUp, remaining -> dialer.dial(cid, port,
                remaining.compareTo(MAX_ATTEMPT) < 0 && remaining.isPositive() ? remaining : MAX_ATTEMPT));
    }

    @Override
    public String describe() {
        return "vsock:" + cid + ":" + port;
    }
}
