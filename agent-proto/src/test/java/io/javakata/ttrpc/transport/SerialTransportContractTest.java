package io.javakata.ttrpc.transport;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** virtio-serial: QEMU's chardev socket, no handshake. */
class SerialTransportContractTest extends TransportContract {

    @Override
    Transport transport(Path socket) {
        return new SerialTransport(socket);
    }

    @Override
    boolean handshake() {
        return false;
    }

    @Override
    void refusedDetail(String message) {
        assertTrue(message.contains("guest.sock"), message);
    }
}
