package io.javakata.guest.network;

import io.javakata.sys.RouteNetlink;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * {@link Links} over an rtnetlink socket opened in the namespace the changes are for. Not thread-safe: one
 * ConfigureNetwork's changes, made in order.
 */
public final class RouteNetlinkLinks implements Links {

    private final RouteNetlink netlink;
    /** Link indexes by name, as found in this namespace: each change would otherwise look its link up again. */
    private final Map<String, Integer> indexes = new HashMap<>();

    private RouteNetlinkLinks(RouteNetlink netlink) {
        this.netlink = netlink;
    }

    private int index(String name) throws IOException {
        Integer known = indexes.get(name);
        if (known == null) {
            known = netlink.linkIndex(name);
            indexes.put(name, known);
        }
        return known;
    }

    /** The guest's opener: the agent's own namespace for pid 0, else /proc/PID/ns/net. */
    public static Links open(int pid) throws IOException {
        return new RouteNetlinkLinks(pid > 0 ? RouteNetlink.openIn(Path.of("/proc", Integer.toString(pid), "ns", "net"))
                : RouteNetlink.open());
    }

    @Override
    public void moveToNetnsOf(String name, int pid) throws IOException {
        netlink.moveToNetnsOf(index(name), pid);
        indexes.remove(name);
    }

    @Override
    public void rename(String name, String newName) throws IOException {
        int index = index(name);
        netlink.rename(index, newName);
        indexes.remove(name);
        indexes.put(newName, index);
    }

    @Override
    public void setMtu(String name, int mtu) throws IOException {
        netlink.setMtu(index(name), mtu);
    }

    @Override
    public void setUp(String name) throws IOException {
        netlink.setUp(index(name));
    }

    @Override
    public void addAddress(String name, IpPrefix address) throws IOException {
        netlink.addAddress(index(name), address.address(), address.length());
    }

    @Override
    public void addRoute(Route route) throws IOException {
        netlink.addRoute(route.family() == 6 ? RouteNetlink.AF_INET6 : RouteNetlink.AF_INET,
                route.destination() == null ? null : route.destination().address(),
                route.destination() == null ? 0 : route.destination().length(), route.gateway(),
                route.device() == null ? 0 : index(route.device()), route.source());
    }

    @Override
    public void close() {
        netlink.close();
    }
}
