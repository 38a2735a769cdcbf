package io.javakata.ttrpc.transport;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Hybrid vsock: the VMM's (or vhost-device-vsock's) Unix socket and the CONNECT handshake. */
class HybridVsockTransportContractTest extends TransportContract {

    @Override
    Transport transport(Path socket) {
        return new HybridVsockTransport(socket, 1024);
    }

    @Override
    boolean handshake() {
        return true;
    }

    @Override
    void refusedDetail(String message) {
        assertTrue(message.endsWith("VMM closed the connection after CONNECT 1024 (is the guest listening on that "
                + "port?)"), message);
    }
}
