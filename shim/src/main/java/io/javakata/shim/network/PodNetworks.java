package io.javakata.shim.network;

import com.fasterxml.jackson.databind.node.ObjectNode;

/** How a sandbox connects its VM to the pod's network; the seam tests replace. */
@FunctionalInterface
public interface PodNetworks {

    /** Connects (or refuses) the network of the sandbox spec {@code spec}; see {@link PodNetwork}. */
    PodNetwork setUp(ObjectNode spec);

    /** The real thing: iproute2 in the pod's network namespace. */
    static PodNetworks host() {
        return spec -> PodNetwork.setUp(spec, CommandRunner.host());
    }

    /** No networking at all, whatever the spec says: a VM without a NIC (tests with a fake VM). */
    static PodNetworks none() {
        return spec -> PodNetwork.none();
    }
}
