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

/**
 * One cgroup v2 directory in the guest (cgroup2 is mounted at {@code /sys/fs/cgroup} by the init
 * script): the interface files the agent reads for stats, OOM kills and process lists.
 *
 * <p>Immutable and thread-safe; every read goes to the kernel.
 */
public final class Cgroup {

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
