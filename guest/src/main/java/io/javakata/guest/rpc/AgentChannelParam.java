package io.javakata.guest.rpc;

import java.util.OptionalInt;

/**
 * Which channel the host reaches the agent on, from the guest kernel's command line: the host's driver appends
 * {@code javakata.agent_vsock_port=N} when the VM carries a virtio-vsock device (vhost-vsock, or a vhost-user
 * backend behind hybrid vsock), and then the agent listens on AF_VSOCK port N; without it the agent serves the
 * virtio-serial port {@code agent0}.
 */
public final class AgentChannelParam {

    public static final String NAME = "javakata.agent_vsock_port";

    private AgentChannelParam() {
    }

    /**
     * The vsock port named on {@code cmdline} (the text of /proc/cmdline), or empty for virtio-serial.
     *
     * @throws IllegalArgumentException when the parameter is there but not a port number (1 to 2^31-1)
     */
    public static OptionalInt vsockPort(String cmdline) {
        OptionalInt port = OptionalInt.empty();
        for (String word : cmdline.strip().split("\\s+")) {
            if (word.startsWith(NAME + "=")) {
                String value = word.substring(NAME.length() + 1);
                try {
                    int n = Integer.parseInt(value);
                    if (n < 1) {
                        throw new NumberFormatException();
                    }
                    port = OptionalInt.of(n);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException(NAME + "=" + value + " on the kernel command line: must be "
                            + "a port number from 1 to " + Integer.MAX_VALUE);
                }
            }
        }
        return port;
    }
}
