package io.javakata.ttrpc.transport;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * The host side of the agent's virtio-serial port: QEMU exposes the port's chardev as a Unix socket
 * ({@code -chardev socket,id=…,path=…,server=on,wait=off}), and the shim connects to it.
 * Thread-safe; {@link #connect} blocks, retrying with back-off until the timeout.
 */
public final class SerialTransport implements Transport {

    private final Path socket;

    public SerialTransport(Path vmmChardevSocket) {
        this.socket = vmmChardevSocket;
    }

    @Override
    public Connection connect(Duration timeout, CompletableFuture<?> giveUp) throws IOException {
        return Retry.until(describe(), timeout, giveUp, remaining -> UnixConnection.connect(socket));
    }

    @Override
    public String describe() {
        return "serial:" + socket;
    }
}
