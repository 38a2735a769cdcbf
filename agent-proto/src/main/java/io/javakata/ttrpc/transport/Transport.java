package io.javakata.ttrpc.transport;

import java.io.IOException;
import java.time.Duration;

/**
 * A way to reach the agent in a guest: virtio-serial through the VMM's Unix socket, AF_VSOCK, or
 * hybrid vsock (a Unix socket plus a {@code CONNECT <port>} handshake).
 *
 * <p>{@link #connect(Duration)} retries with back-off until the timeout, because the VMM's socket
 * appears, and the guest starts listening, some time after the VMM process starts. On failure the
 * IOException names the endpoint, the attempts made and the last error. Blocking; thread-safe.
 */
public interface Transport {

    Connection connect(Duration timeout) throws IOException;

    /** The endpoint, for log lines and errors. */
    String describe();
}
