package io.javakata.hypervisor;

import java.nio.file.Path;

/** Where the agent of a VM can be reached from the host. The shim maps each to a transport. */
public sealed interface AgentEndpoint {

    /** A virtio-serial port whose host side is the VMM's Unix socket chardev. */
    record Serial(Path socket, String portName) implements AgentEndpoint {
    }

    /** AF_VSOCK through vhost-vsock: the guest's context id and the agent's port. */
    record Vsock(long cid, int port) implements AgentEndpoint {
    }

    /** Cloud Hypervisor / Firecracker hybrid vsock: a Unix socket plus "CONNECT port\n". */
    record HybridVsock(Path socket, int port) implements AgentEndpoint {
    }
}
