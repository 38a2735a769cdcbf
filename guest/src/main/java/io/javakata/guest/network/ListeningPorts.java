package io.javakata.guest.network;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * The TCP ports listened on in a network namespace (the pod's: the sandbox container's, whose
 * /proc/PID/net/tcp and tcp6 the caller passes), from its tcp and tcp6 tables: sockets in state LISTEN (0A) bound
 * to a wildcard or loopback address, which a connection to the loopback address reaches.
 */
public final class ListeningPorts {

    private static final String LISTEN = "0A";
    private static final String V6_ANY = "00000000000000000000000000000000";
    /** ::1 as the kernel prints it: four 32-bit words in host (little-endian) order. */
    private static final String V6_LOOPBACK = "00000000000000000000000001000000";

    private ListeningPorts() {
    }

    /** Ports listened on according to {@code tcp} and {@code tcp6} (either may be missing). */
    public static Set<Integer> read(Path tcp, Path tcp6) throws IOException {
        Set<Integer> ports = new TreeSet<>();
        for (Path file : List.of(tcp, tcp6)) {
            try {
                ports.addAll(parse(Files.readString(file)));
            } catch (NoSuchFileException e) {
                // no IPv6 in this kernel
            }
        }
        return ports;
    }

    /** Parses one /proc/net/tcp or tcp6 text. */
    static Set<Integer> parse(String text) {
        Set<Integer> ports = new TreeSet<>();
        for (String line : text.split("\n")) {
            String[] fields = line.strip().split("\\s+");
            if (fields.length < 4 || !fields[0].endsWith(":") || !fields[3].equals(LISTEN)) {
                continue; // header or not listening
            }
            int colon = fields[1].indexOf(':');
            if (colon < 0) {
                continue;
            }
            String address = fields[1].substring(0, colon);
            if (reachableFromLoopback(address)) {
                ports.add(Integer.parseInt(fields[1].substring(colon + 1), 16));
            }
        }
        return ports;
    }

    private static boolean reachableFromLoopback(String hex) {
        if (hex.length() == 8) {
            // IPv4 in little-endian: 0100007F is 127.0.0.1; the first octet is the last byte.
            return hex.equals("00000000") || hex.endsWith("7F");
        }
        return hex.equals(V6_ANY) || hex.equals(V6_LOOPBACK);
    }
}
