package io.javakata.guest.network;

import java.net.InetAddress;

/**
 * A route of the pod's network, checked: to {@code destination} (null: the default route of {@code family}), through
 * {@code gateway} (null: on the link), out of {@code device} (null: the kernel chooses), preferring {@code source}
 * (null: none) as the source address. Its text is {@code ip route}'s ("-4 10.99.0.0/24 via 10.88.0.254 dev eth0 src
 * 10.88.0.5"): it names the route's change in errors and logs.
 *
 * @param family 4 or 6; every address given must be of it
 */
public record Route(int family, IpPrefix destination, InetAddress gateway, String device, InetAddress source) {

    public Route {
        if (family != 4 && family != 6) {
            throw new IllegalArgumentException("family " + family + " is neither 4 nor 6");
        }
        for (InetAddress address : new InetAddress[] {destination == null ? null : destination.address(), gateway,
                source}) {
            if (address != null && IpPrefix.family(address) != family) {
                throw new IllegalArgumentException(address.getHostAddress() + " is not an IPv" + family + " address");
            }
        }
    }

    @Override
    public String toString() {
        return "-" + family + " " + (destination == null ? "default" : destination.toString())
                + (gateway == null ? "" : " via " + gateway.getHostAddress())
                + (device == null ? "" : " dev " + device)
                + (source == null ? "" : " src " + source.getHostAddress());
    }
}
