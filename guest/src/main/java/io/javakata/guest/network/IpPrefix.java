package io.javakata.guest.network;

import java.net.Inet4Address;
import java.net.InetAddress;

/** An address and a prefix length, as in "10.88.0.5/16"; the length is the full address without a "/". */
public record IpPrefix(InetAddress address, int length) {

    public IpPrefix {
        int max = family(address) == 4 ? 32 : 128;
        if (length < 0 || length > max) {
            throw new IllegalArgumentException("prefix length " + length + " is outside 0.." + max);
        }
    }

    /**
     * Parses "ADDRESS[/LENGTH]" of IPv4 or IPv6 literals (never a host name: nothing is looked up).
     *
     * @throws IllegalArgumentException naming what is wrong with {@code text}
     */
    public static IpPrefix parse(String text) {
        int slash = text.indexOf('/');
        InetAddress address = literal(slash < 0 ? text : text.substring(0, slash));
        if (slash < 0) {
            return new IpPrefix(address, family(address) == 4 ? 32 : 128);
        }
        String length = text.substring(slash + 1);
        if (length.isEmpty() || length.length() > 3 || !length.chars().allMatch(Character::isDigit)) {
            throw new IllegalArgumentException("\"" + text + "\": the prefix length is not a number");
        }
        return new IpPrefix(address, Integer.parseInt(length));
    }

    /** An IPv4 or IPv6 literal; nothing is looked up. */
    public static InetAddress literal(String text) {
        try {
            return InetAddress.ofLiteral(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("\"" + text + "\" is not an IPv4 or IPv6 address");
        }
    }

    /** 4 or 6. */
    public int family() {
        return family(address);
    }

    /** 4 or 6: the IP version of {@code address}. */
    public static int family(InetAddress address) {
        return address instanceof Inet4Address ? 4 : 6;
    }

    @Override
    public String toString() {
        return address.getHostAddress() + "/" + length;
    }
}
