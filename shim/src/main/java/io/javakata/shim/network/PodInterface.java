package io.javakata.shim.network;

import java.util.List;

/**
 * One interface CNI configured in the pod's network namespace, as the guest must reproduce it.
 *
 * @param name      its name in the pod netns (usually eth0); the guest interface gets the same
 * @param mac       its MAC, which the guest NIC takes over
 * @param mtu       its MTU
 * @param addresses global addresses in CIDR form (link-local ones are left to the guest kernel)
 */
public record PodInterface(String name, String mac, int mtu, List<String> addresses) {
    public PodInterface {
        addresses = List.copyOf(addresses);
    }
}
