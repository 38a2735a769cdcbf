package io.javakata.it;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * What a private containerd and its pods hold on the host, read from /proc and /sys, for the soak's before/after
 * comparison ({@link Soak}): containerd's open descriptors (counted by kind), its threads and RSS, the processes it
 * owns, zombies among them, mounts under its directory and the shim's state directory, sandbox and shim-socket
 * entries, pod network namespaces, veths on its CNI bridge and the pod cgroups under its top cgroup.
 *
 * <p>A snapshot is a value; {@link #leaksSince} lists what a later snapshot holds that an earlier one did not.
 * Reading /proc races with processes that come and go: a file that vanishes is skipped.
 */
record HostInventory(long containerdPid, Map<String, Integer> containerdFds, int containerdThreads, long containerdRssKib,
                     Set<String> processes, Set<String> zombies, Set<String> mounts, Set<String> sandboxes,
                     Set<String> shimSockets, Set<String> netns, Set<String> bridgePorts, Set<String> cgroups) {

    /** Reads the inventory of {@code cri}'s containerd now. */
    static HostInventory of(PrivateCri cri) throws IOException {
        PrivateContainerd containerd = cri.containerd();
        Path dir = containerd.dir();
        long pid = Long.parseLong(Files.readString(dir.resolve("containerd.pid")).strip());
        var processes = new TreeSet<String>();
        var owned = new TreeSet<Long>();
        for (long p : containerd.processes("")) {
            if (p != pid) {
                owned.add(p);
                processes.add(p + " " + PrivateContainerd.cmdline(p));
            }
        }
        owned.add(pid);
        var mounts = new TreeSet<String>(PrivateContainerd.mountsUnder(dir));
        mounts.addAll(PrivateContainerd.mountsUnder(PrivateContainerd.STATE));
        var cgroups = new TreeSet<String>();
        for (String controller : PrivateCri.CGROUP_CONTROLLERS) {
            Path top = Path.of("/sys/fs/cgroup", controller, cri.topCgroup());
            if (Files.isDirectory(top)) {
                try (Stream<Path> tree = Files.walk(top)) {
                    tree.filter(Files::isDirectory).filter(p -> !p.equals(top)).forEach(p -> cgroups.add(p.toString()));
                }
            }
        }
        return new HostInventory(pid, fdKinds(pid), count(Path.of("/proc", Long.toString(pid), "task")),
                statusKib(pid, "VmRSS:"), processes, zombiesOf(owned), mounts, names(PrivateContainerd.SANDBOXES),
                names(PrivateContainerd.SHIM_SOCKETS), names(dir.resolve("state/io.containerd.grpc.v1.cri/netns")),
                names(Path.of("/sys/class/net", containerd.bridge(), "brif")), cgroups);
    }

    /** containerd's open descriptors. */
    int fdCount() {
        return containerdFds.values().stream().mapToInt(Integer::intValue).sum();
    }

    /** Everything {@code this} holds that {@code before} did not (containerd's descriptors are compared apart). */
    List<String> leaksSince(HostInventory before) {
        var leaks = new ArrayList<String>();
        added(leaks, "process", before.processes, processes);
        added(leaks, "zombie", before.zombies, zombies);
        added(leaks, "mount", before.mounts, mounts);
        added(leaks, "sandbox state", before.sandboxes, sandboxes);
        added(leaks, "shim socket", before.shimSockets, shimSockets);
        added(leaks, "pod network namespace", before.netns, netns);
        added(leaks, "interface on the CNI bridge", before.bridgePorts, bridgePorts);
        added(leaks, "cgroup", before.cgroups, cgroups);
        return leaks;
    }

    /** How containerd's descriptors changed since {@code before}, by kind ("socket +2, pipe -1"); empty if not at all. */
    String fdChangeSince(HostInventory before) {
        var kinds = new TreeSet<>(containerdFds.keySet());
        kinds.addAll(before.containerdFds.keySet());
        var changes = new ArrayList<String>();
        for (String kind : kinds) {
            int delta = containerdFds.getOrDefault(kind, 0) - before.containerdFds.getOrDefault(kind, 0);
            if (delta != 0) {
                changes.add(kind + (delta > 0 ? " +" : " ") + delta);
            }
        }
        return String.join(", ", changes);
    }

    /** The open descriptors of {@code pid}; -1 if it is gone. */
    static int fdCount(long pid) {
        return count(Path.of("/proc", Long.toString(pid), "fd"));
    }

    /**
     * The descriptors of {@code pid} by what they are: "socket", "pipe", "anon_inode:[eventpoll]", or the file's path
     * with digits folded ("/run/x/sandboxes/#/qmp.sock"), so that a leak shows as a kind that grew.
     */
    static Map<String, Integer> fdKinds(long pid) {
        var kinds = new TreeMap<String, Integer>();
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc", Long.toString(pid), "fd"))) {
            for (Path fd : fds) {
                try {
                    String target = Files.readSymbolicLink(fd).toString();
                    String kind = target.startsWith("socket:") ? "socket" : target.startsWith("pipe:") ? "pipe"
                            : target.replaceAll("\\d+", "#");
                    kinds.merge(kind, 1, Integer::sum);
                } catch (IOException e) {
                    // closed meanwhile
                }
            }
        } catch (IOException e) {
            return Map.of();
        }
        return kinds;
    }

    /**
     * Who still holds network namespace {@code ns} ("net:[4026532…]", from /proc/PID/ns/net): a process or thread in
     * it, a process with a descriptor on it, a mount of it. Empty once the kernel can free it with its interfaces,
     * taps and qdiscs.
     */
    static List<String> netnsHolders(String ns) throws IOException {
        var holders = new ArrayList<String>();
        try (DirectoryStream<Path> procs = Files.newDirectoryStream(Path.of("/proc"), p -> p.getFileName().toString().matches("\\d+"))) {
            for (Path proc : procs) {
                String pid = proc.getFileName().toString();
                try (DirectoryStream<Path> tasks = Files.newDirectoryStream(proc.resolve("task"))) {
                    for (Path task : tasks) {
                        if (ns.equals(link(task.resolve("ns/net")))) {
                            holders.add("thread " + task.getFileName() + " of " + pid + " (" + PrivateContainerd.cmdline(Long.parseLong(pid)) + ") runs in it");
                            break;
                        }
                    }
                } catch (IOException e) {
                    continue; // gone
                }
                try (DirectoryStream<Path> fds = Files.newDirectoryStream(proc.resolve("fd"))) {
                    for (Path fd : fds) {
                        if (ns.equals(link(fd))) {
                            holders.add("process " + pid + " (" + PrivateContainerd.cmdline(Long.parseLong(pid)) + ") holds it as fd " + fd.getFileName());
                        }
                    }
                } catch (IOException e) {
                    // gone
                }
            }
        }
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String[] fields = line.split(" ");
            if (fields[3].equals(ns)) {
                holders.add("mounted at " + fields[4]);
            }
        }
        return holders;
    }

    /** Every process on the host whose command line contains {@code text}, as "pid command line". */
    static List<String> processesMentioning(String text) {
        return ProcessHandle.allProcesses().map(p -> p.pid() + " " + PrivateContainerd.cmdline(p.pid()))
                .filter(line -> line.contains(text)).toList();
    }

    /** The network namespace of {@code pid} ("net:[…]"), or null if it is gone. */
    static String netnsOf(long pid) {
        return link(Path.of("/proc", Long.toString(pid), "ns/net"));
    }

    private static String link(Path path) {
        try {
            return Files.readSymbolicLink(path).toString();
        } catch (IOException e) {
            return null;
        }
    }

    /** Processes in state Z whose parent is one of {@code parents} (their command line is gone: pid and parent). */
    private static Set<String> zombiesOf(Set<Long> parents) throws IOException {
        var zombies = new TreeSet<String>();
        try (DirectoryStream<Path> procs = Files.newDirectoryStream(Path.of("/proc"), p -> p.getFileName().toString().matches("\\d+"))) {
            for (Path proc : procs) {
                try {
                    String stat = Files.readString(proc.resolve("stat"));
                    // pid (comm) state ppid …; comm may hold spaces and parentheses: split after the last ')'.
                    String[] rest = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    if (rest[0].equals("Z") && parents.contains(Long.parseLong(rest[1]))) {
                        zombies.add(proc.getFileName() + " " + stat.substring(stat.indexOf('('), stat.lastIndexOf(')') + 1)
                                + " child of " + rest[1]);
                    }
                } catch (IOException e) {
                    // gone
                }
            }
        }
        return zombies;
    }

    private static long statusKib(long pid, String key) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
            if (line.startsWith(key)) {
                return Long.parseLong(line.replaceAll("\\D", ""));
            }
        }
        return -1;
    }

    private static int count(Path dir) {
        try (Stream<Path> list = Files.list(dir)) {
            return (int) list.count();
        } catch (IOException e) {
            return -1;
        }
    }

    private static Set<String> names(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return Set.of();
        }
        try (Stream<Path> list = Files.list(dir)) {
            return list.map(p -> dir.resolve(p.getFileName()).toString()).collect(TreeSet::new, Set::add, Set::addAll);
        }
    }

    private static void added(List<String> leaks, String what, Set<String> before, Set<String> after) {
        after.stream().filter(e -> !before.contains(e)).forEach(e -> leaks.add(what + " " + e));
    }
}
