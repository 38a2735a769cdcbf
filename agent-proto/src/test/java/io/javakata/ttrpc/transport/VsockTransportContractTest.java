package io.javakata.ttrpc.transport;

import io.javakata.sys.ErrnoException;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * AF_VSOCK. This host has no vhost-vsock (and no vsock loopback), so no AF_VSOCK peer can be reached here: the
 * contract runs {@link VsockTransport}'s own retry, timeout and error handling with a dialer whose far end is the
 * fake guest's Unix socket, and one case dials real AF_VSOCK to check that failing there is an errno error within
 * the timeout.
 */
class VsockTransportContractTest extends TransportContract {

    @Override
    Transport transport(Path socket) {
        return new VsockTransport(3, 1024, (cid, port, timeout) -> UnixConnection.connect(socket));
    }

    @Override
    boolean handshake() {
        return false;
    }

    @Override
    void refusedDetail(String message) {
        assertTrue(message.contains("guest.sock"), message);
    }

    @Test
    void realVsockWithoutAPeerFailsWithTheErrnoWithinTheTimeout() {
        VsockTransport transport = new VsockTransport(3, 1024);
        long started = System.nanoTime();
        IOException e = assertThrows(IOException.class, () -> transport.connect(Duration.ofMillis(1500)));
        assertWithin(started, Duration.ofMillis(1500).plus(SLACK));
        assertTrue(e.getMessage().startsWith("connect vsock:3:1024: gave up after "), e.getMessage());
        assertInstanceOf(ErrnoException.class, e.getCause(), e.toString());
        assertTrue(e.getMessage().matches("(?s).*connect\\(vsock cid=3 port=1024\\) failed: errno \\d+ E[A-Z]+ .*"),
                e.getMessage());
    }
}
