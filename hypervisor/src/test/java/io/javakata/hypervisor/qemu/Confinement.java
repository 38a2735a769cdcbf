package io.javakata.hypervisor.qemu;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/** Reads how a host process is confined, from /proc (proc(5)). */
final class Confinement {

    /**
     * What virtiofsd's worker keeps: chown (0), dac_override (1), fowner (3), fsetid (4), setgid (6),
     * setuid (7); capability numbers from linux/capability.h.
     */
    static final long VIRTIOFSD_CAPS = (1L << 0) | (1L << 1) | (1L << 3) | (1L << 4) | (1L << 6) | (1L << 7);

    /** The host devices a VM's QEMU may hold open: nothing else but what the VM uses. */
    static final Set<String> QEMU_DEVICES = Set.of("/dev/null", "/dev/net/tun", "/dev/kvm", "/dev/vhost-vsock",
            "/dev/urandom", "/dev/random");

    private Confinement() {
    }

    /** The fields of /proc/PID/status that say how the process is confined. */
    record Status(List<Long> uids, long capEff, long capPrm, int seccomp, int noNewPrivs) {
        static Status of(long pid) throws IOException {
            List<String> lines = Files.readAllLines(Path.of("/proc/" + pid + "/status"));
            return new Status(
                    Arrays.stream(field(lines, "Uid").split("\\s+")).map(Long::parseLong).toList(),
                    Long.parseUnsignedLong(field(lines, "CapEff"), 16),
                    Long.parseUnsignedLong(field(lines, "CapPrm"), 16),
                    Integer.parseInt(field(lines, "Seccomp")),
                    Integer.parseInt(field(lines, "NoNewPrivs")));
        }

        private static String field(List<String> lines, String name) {
            return lines.stream().filter(l -> l.startsWith(name + ":")).findFirst()
                    .map(l -> l.substring(name.length() + 1).strip())
                    .orElseThrow(() -> new AssertionError("no " + name + " in /proc/PID/status"));
        }
    }

    /** The device files among {@code pid}'s open file descriptors. */
    static List<String> openDevices(long pid) throws IOException {
        List<String> devices = new ArrayList<>();
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/" + pid + "/fd"))) {
            for (Path fd : fds) {
                try {
                    String target = Files.readSymbolicLink(fd).toString();
                    if (target.startsWith("/dev/") && !devices.contains(target)) {
                        devices.add(target);
                    }
                } catch (IOException e) {
                    // closed meanwhile
                }
            }
        }
        return devices;
    }

    /** The uid of a user, from /etc/passwd. */
    static long uidOf(String user) throws IOException {
        return Files.readAllLines(Path.of("/etc/passwd")).stream().map(l -> l.split(":"))
                .filter(f -> f[0].equals(user)).map(f -> Long.parseLong(f[2])).findFirst()
                .orElseThrow(() -> new AssertionError("no user " + user));
    }

    /**
     * The one process with {@code argument} in its command line whose parent has not (a forked child
     * shares its parent's command line).
     */
    static long pidWithArgument(String argument) {
        List<ProcessHandle> found = ProcessHandle.allProcesses()
                .filter(p -> hasArgument(p, argument))
                .filter(p -> p.parent().map(parent -> !hasArgument(parent, argument)).orElse(true))
                .toList();
        if (found.size() != 1) {
            throw new AssertionError(found.size() + " processes name " + argument);
        }
        return found.getFirst().pid();
    }

    private static boolean hasArgument(ProcessHandle process, String argument) {
        return process.info().arguments().map(Arrays::asList).orElse(List.of()).contains(argument);
    }
}
