package io.javakata.shim.agent;

import io.javakata.hypervisor.AgentEndpoint;
import io.javakata.ttrpc.transport.Connection;
import io.javakata.ttrpc.transport.HybridVsockTransport;
import io.javakata.ttrpc.transport.SerialTransport;
import io.javakata.ttrpc.transport.Transport;
import io.javakata.ttrpc.transport.VsockTransport;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * Opens the byte stream to a VM's agent. The production dialer maps each {@link AgentEndpoint} to its
 * transport; tests hand in an in-memory one.
 */
@FunctionalInterface
public interface AgentDialer {

    /**
     * Connects, retrying until {@code timeout} as the transport does, and giving up at once when {@code giveUp}
     * completes (the VM ended: {@link Transport#connect(Duration, CompletableFuture)}); blocking.
     */
    Connection dial(AgentEndpoint endpoint, Duration timeout, CompletableFuture<?> giveUp) throws IOException;

    /** The dialer for real VMs. */
    static AgentDialer transports() {
        return (endpoint, timeout, giveUp) -> transportFor(endpoint).connect(timeout, giveUp);
    }

    /** The transport that reaches {@code endpoint}. */
    static Transport transportFor(AgentEndpoint endpoint) {
        return switch (endpoint) {
            case AgentEndpoint.Serial serial -> new SerialTransport(serial.socket());
            case AgentEndpoint.HybridVsock hybrid -> new HybridVsockTransport(hybrid.socket(), hybrid.port());
            case AgentEndpoint.Vsock vsock -> new VsockTransport(vsock.cid(), vsock.port());
        };
    }
}
