package io.javakata.ttrpc.transport;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * A way to reach the agent in a guest: virtio-serial through the VMM's Unix socket, AF_VSOCK, or
 * hybrid vsock (a Unix socket plus a {@code CONNECT <port>} handshake).
 *
 * <p>{@link #connect(Duration, CompletableFuture)} retries with back-off until the timeout, because the VMM's socket
 * appears, and the guest starts listening, some time after the VMM process starts. On failure the
 * IOException names the endpoint, the attempts made and the last error. Blocking; thread-safe.
 */
public interface Transport {

    /**
     * Connects, retrying until {@code timeout}; when {@code giveUp} completes (the caller learned that the endpoint can
     * no longer answer: its VM ended), makes no further attempt and throws. An attempt under way that waits for the
     * guest's answer (hybrid vsock's CONNECT) ends at once too; a vsock connect ends within its own one-second bound.
     */
    Connection connect(Duration timeout, CompletableFuture<?> giveUp) throws IOException;

    /** Connects, retrying until {@code timeout}. */
    default Connection connect(Duration timeout) throws IOException {
        return connect(timeout, new CompletableFuture<>());
    }

    /** The endpoint, for log lines and errors. */
    String describe();
}
