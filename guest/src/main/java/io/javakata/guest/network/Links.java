package io.javakata.guest.network;

import java.io.IOException;

/**
 * The link and route changes of ConfigureNetwork, in one network namespace. {@link RouteNetlinkLinks} makes them
 * over rtnetlink in the guest; tests record them.
 */
public interface Links extends AutoCloseable {

    /** Opens the changes for the agent's own network namespace ({@code pid} 0) or for that of process {@code pid}. */
    @FunctionalInterface
    interface Opener {
        Links open(int pid) throws IOException;
    }

    /** Moves link {@code name} into the network namespace of process {@code pid}. */
    void moveToNetnsOf(String name, int pid) throws IOException;

    void rename(String name, String newName) throws IOException;

    void setMtu(String name, int mtu) throws IOException;

    void setUp(String name) throws IOException;

    void addAddress(String name, IpPrefix address) throws IOException;

    void addRoute(Route route) throws IOException;

    @Override
    void close();
}
