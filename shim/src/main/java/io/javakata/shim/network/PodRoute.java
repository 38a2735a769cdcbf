package io.javakata.shim.network;

/**
 * A route of the pod's network namespace that the guest must add (the kernel's own connected
 * routes are left out: the guest makes them when the addresses are added).
 *
 * @param destination CIDR or "default"
 * @param gateway     next hop, "" for none
 * @param device      the interface name
 * @param source      preferred source, "" for none
 * @param family      4 or 6
 */
public record PodRoute(String destination, String gateway, String device, String source, int family) {
}
