package io.javakata.guest.cgroup;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.stream.Stream;

import io.javakata.sys.ErrnoException;
import io.javakata.sys.Signals;

/**
 * One cgroup v2 directory in the guest (cgroup2 is mounted at {@code /sys/fs/cgroup} by the init
 * script): the interface files the agent reads for stats, OOM kills and process lists, and
 * {@link #killAll()}.
 *
 * <p>Immutable and thread-safe; every read goes to the kernel.
 */
public final class Cgroup {

    /** Passes over cgroup.procs in {@link #killAll()} without cgroup.kill: a process forking while killed adds one. */
    static final int KILL_ROUNDS = 20;
    private static final long KILL_ROUND_PAUSE_MILLIS = 5;

    private final Path dir;

    public Cgroup(Path dir) {
        this.dir = dir;
    }

    /**
     * The cgroup of a live process, from the {@code 0::/path} line of {@code /proc/<pid>/cgroup}
     * (the agent runs in the initial cgroup namespace, so the path is from the root).
     *
     * @param proc  {@code /proc}
     * @param mount the cgroup2 mount, {@code /sys/fs/cgroup}
     */
    public static Cgroup ofPid(Path proc, Path mount, int pid) throws IOException {
        for (String line : Files.readAllLines(proc.resolve(Integer.toString(pid)).resolve("cgroup"))) {
            if (line.startsWith("0::")) {
                String path = line.substring(3);
                return new Cgroup(path.equals("/") ? mount : mount.resolve(path.substring(1)));
            }
        }
        throw new IOException("/proc/" + pid + "/cgroup: no cgroup v2 line (0::/path)");
    }

    public Path dir() {
        return dir;
    }

    /** A flat-keyed file ({@code cpu.stat}, {@code memory.stat}, {@code memory.events}): key → value. */
    public Map<String, Long> keyed(String file) throws IOException {
        Map<String, Long> values = new LinkedHashMap<>();
        for (String line : read(file).split("\n")) {
            String[] kv = line.strip().split(" ");
            if (kv.length == 2) {
                values.put(kv[0], parse(kv[1]));
            }
        }
        return values;
    }

    /** A single-value file ({@code memory.current}); "max" reads as empty; a missing file as empty. */
    public OptionalLong single(String file) throws IOException {
        String text;
        try {
            text = read(file).strip();
        } catch (NoSuchFileException e) {
            return OptionalLong.empty();
        }
        return text.equals("max") || text.isEmpty() ? OptionalLong.empty() : OptionalLong.of(parse(text));
    }

    /** {@code io.stat}: one entry per device, "MAJ:MIN rbytes=… wbytes=… rios=… wios=… …". */
    public List<IoEntry> ioStat() throws IOException {
        List<IoEntry> entries = new ArrayList<>();
        String text;
        try {
            text = read("io.stat");
        } catch (NoSuchFileException e) {
            return entries;
        }
        for (String line : text.split("\n")) {
            String[] fields = line.strip().split(" ");
            if (fields.length < 2 || !fields[0].contains(":")) {
                continue;
            }
            String[] dev = fields[0].split(":");
            Map<String, Long> kv = new LinkedHashMap<>();
            for (int i = 1; i < fields.length; i++) {
                int eq = fields[i].indexOf('=');
                if (eq > 0) {
                    kv.put(fields[i].substring(0, eq), parse(fields[i].substring(eq + 1)));
                }
            }
            entries.add(new IoEntry(Long.parseLong(dev[0]), Long.parseLong(dev[1]), kv.getOrDefault("rbytes", 0L),
                    kv.getOrDefault("wbytes", 0L), kv.getOrDefault("rios", 0L), kv.getOrDefault("wios", 0L)));
        }
        return entries;
    }

    /** How many processes of this cgroup the kernel OOM-killed ({@code memory.events oom_kill}); 0 without the file. */
    public long oomKills() {
        try {
            return keyed("memory.events").getOrDefault("oom_kill", 0L);
        } catch (IOException e) {
            return 0;
        }
    }

    /** The pids in this cgroup ({@code cgroup.procs}). */
    public List<Integer> pids() throws IOException {
        List<Integer> pids = new ArrayList<>();
        for (String line : read("cgroup.procs").split("\n")) {
            if (!line.isBlank()) {
                pids.add(Integer.parseInt(line.strip()));
            }
        }
        return pids;
    }

    /**
     * SIGKILLs every process of this cgroup and of the cgroups below it, as runc's shim does when the
     * init of a container without its own PID namespace exits ({@code runc kill --all}). Writes 1 to
     * {@code cgroup.kill} where the kernel has it (Linux 5.14+, cgroup v2: "killing a cgroup kills all
     * processes in the cgroup and its descendants" — Documentation/admin-guide/cgroup-v2.rst); else
     * sends SIGKILL to each pid of {@code cgroup.procs} (here and below), pass after pass, until
     * a pass finds no pid it has not signalled yet (a child forked during a pass shows up in the next)
     * or {@value #KILL_ROUNDS} passes are done. Returns once the signals are sent, not once the processes
     * are gone.
     *
     * @return the pids signalled one by one (empty when cgroup.kill did it)
     */
    public List<Integer> killAll() throws IOException {
        Path kill = dir.resolve("cgroup.kill");
        if (Files.exists(kill)) {
            Files.writeString(kill, "1", StandardCharsets.US_ASCII);
            return List.of();
        }
        List<Integer> signalled = new ArrayList<>();
        for (int round = 0; round < KILL_ROUNDS; round++) {
            // SIGKILL cannot be caught: one per pid is enough. A pid seen again is dying (or a zombie).
            List<Integer> fresh = pidsBelow().stream().filter(pid -> !signalled.contains(pid)).toList();
            if (fresh.isEmpty()) {
                break;
            }
            for (int pid : fresh) {
                signalled.add(pid);
                try {
                    Signals.kill(pid, Signals.SIGKILL);
                } catch (ErrnoException e) {
                    // ESRCH: it exited meanwhile.
                }
            }
            try {
                Thread.sleep(KILL_ROUND_PAUSE_MILLIS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        return signalled;
    }

    /** The pids of this cgroup and of every cgroup below it; an empty list once they are all gone. */
    List<Integer> pidsBelow() throws IOException {
        List<Integer> pids = new ArrayList<>();
        try (Stream<Path> dirs = Files.walk(dir)) {
            for (Path d : dirs.filter(Files::isDirectory).toList()) {
                try {
                    pids.addAll(new Cgroup(d).pids());
                } catch (NoSuchFileException e) {
                    // removed meanwhile
                }
            }
        } catch (NoSuchFileException e) {
            return pids;
        }
        return pids;
    }

    /** One device's line of io.stat. */
    public record IoEntry(long major, long minor, long rbytes, long wbytes, long rios, long wios) {
    }

    private String read(String file) throws IOException {
        return Files.readString(dir.resolve(file), StandardCharsets.US_ASCII);
    }

    private static long parse(String value) {
        return value.equals("max") ? Long.MAX_VALUE : Long.parseUnsignedLong(value);
    }
}
