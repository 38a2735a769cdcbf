package io.javakata.shim.sandbox;

import com.fasterxml.jackson.databind.JsonNode;
import io.javakata.ttrpc.Errors;
import java.io.IOException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The pod sandbox's cgroup on the host, at the sandbox spec's {@code linux.cgroupsPath}, holding the
 * VM's host processes (QEMU, virtiofsd). CRI computes pod stats from the host cgroup at the pod's
 * cgroup parent (containerd pkg/cri/server/sandbox_run_linux.go puts it in the sandbox spec's linux.cgroupsPath;
 * the kubelet's pkg/kubelet/cm creates it before RunPodSandbox), so the VM's CPU and memory count toward the pod only if its
 * processes sit under it.
 *
 * <p>Placement only: none of the pod's limits are written here (the VMM needs headroom above what
 * the guest is given; the limits are applied to the containers inside the guest). A spec without a
 * cgroupsPath gets nothing. A cgroupfs-driver path ({@code /parent/…/<id>}) is created in every
 * hierarchy: on a cgroup v2 host the single tree at the root (detected by its
 * {@code cgroup.controllers}), otherwise every v1 hierarchy mounted under the root plus the v2
 * {@code unified} one if mounted. {@code ctr run} specs carry {@code /<namespace>/<id>}: the VM is
 * placed there too, as runc places a container, and as with runc the {@code /<namespace>} level
 * created for it stays. A systemd-driver path ({@code slice:prefix:name}) is not supported and is
 * logged and skipped. Only the leaf (the sandbox's own cgroup) is removed, by {@link #remove()}.
 *
 * <p>Not thread-safe; one sandbox owns one instance.
 */
public final class HostCgroup {

    /** The host's cgroup mount root. */
    public static final Path ROOT = Path.of("/sys/fs/cgroup");

    private static final System.Logger LOG = System.getLogger(HostCgroup.class.getName());
    private static final Duration REMOVE_WAIT = Duration.ofSeconds(3);
    private static final Duration RETRY = Duration.ofMillis(50);
    private static final List<String> V2_CONTROLLERS = List.of("cpu", "memory", "pids", "io");

    private final String path;
    private final List<Path> dirs;

    private HostCgroup(String path, List<Path> dirs) {
        this.path = path;
        this.dirs = dirs;
    }

    /**
     * The spec's {@code linux.cgroupsPath} if it is a cgroupfs path; empty when absent, empty, or in
     * the systemd driver's form. A path with {@code .} or {@code ..} components is refused.
     */
    public static Optional<String> pathOf(JsonNode spec) {
        if (spec == null) {
            return Optional.empty();
        }
        String path = spec.path("linux").path("cgroupsPath").asText("");
        if (path.isEmpty()) {
            return Optional.empty();
        }
        if (!path.startsWith("/")) {
            LOG.log(System.Logger.Level.WARNING, "linux.cgroupsPath={0}: not a cgroupfs path (systemd cgroup driver?); "
                    + "the VM stays in the shim''s cgroup", path);
            return Optional.empty();
        }
        for (String part : path.substring(1).split("/")) {
            if (part.equals(".") || part.equals("..")) {
                throw Errors.invalidArgument("linux.cgroupsPath=%s: must not contain . or .. components", path);
            }
        }
        String trimmed = path.replaceAll("/+", "/").replaceAll("/$", "");
        if (trimmed.isEmpty()) {
            throw Errors.invalidArgument("linux.cgroupsPath=%s: must name a cgroup below the root", path);
        }
        return Optional.of(trimmed);
    }

    /**
     * The hierarchies under {@code root}: the root itself on a cgroup v2 host, else each mounted
     * hierarchy directory (symlinks such as {@code cpu,cpuacct} aliases are skipped).
     */
    static List<Path> hierarchies(Path root) throws IOException {
        if (Files.exists(root.resolve("cgroup.controllers"))) {
            return List.of(root);
        }
        List<Path> found = new ArrayList<>();
        try (Stream<Path> entries = Files.list(root)) {
            for (Path entry : entries.sorted().toList()) {
                if (Files.isDirectory(entry, java.nio.file.LinkOption.NOFOLLOW_LINKS)
                        && Files.exists(entry.resolve("cgroup.procs"))) {
                    found.add(entry);
                }
            }
        }
        return found;
    }

    /**
     * Creates {@code path} in every hierarchy under {@code root}, filling in cpuset.cpus/mems of new
     * v1 cpuset levels from their parents (a task cannot join an empty cpuset) and, on v2, enabling
     * the cpu, memory, pids and io controllers for new levels where the parent offers them. On
     * failure, whatever was created is removed.
     */
    public static HostCgroup create(Path root, String path) throws IOException {
        boolean v2 = Files.exists(root.resolve("cgroup.controllers"));
        List<Path> created = new ArrayList<>();
        List<Path> leaves = new ArrayList<>();
        try {
            for (Path hierarchy : hierarchies(root)) {
                Path dir = hierarchy;
                for (String part : path.substring(1).split("/")) {
                    Path parent = dir;
                    dir = dir.resolve(part);
                    if (Files.isDirectory(dir)) {
                        continue;
                    }
                    if (v2) {
                        enableControllers(parent);
                    }
                    Files.createDirectory(dir);
                    created.add(dir);
                    copyIfBlank(parent, dir, "cpuset.cpus");
                    copyIfBlank(parent, dir, "cpuset.mems");
                }
                leaves.add(dir);
            }
        } catch (IOException | RuntimeException e) {
            for (Path dir : created.reversed()) {
                try {
                    Files.deleteIfExists(dir);
                } catch (IOException cleanup) {
                    LOG.log(System.Logger.Level.WARNING, "cleanup: rmdir " + dir + " failed: " + cleanup.getMessage());
                }
            }
            throw new IOException("create host cgroup " + path + ": " + e.getMessage(), e);
        }
        LOG.log(System.Logger.Level.DEBUG, "host cgroup {0} ready in {1} hierarchies", path, leaves.size());
        return new HostCgroup(path, List.copyOf(leaves));
    }

    /** The cgroupfs path, e.g. {@code /k8s.io/<id>}. */
    public String path() {
        return path;
    }

    /** The cgroup's directory in each hierarchy. */
    public List<Path> dirs() {
        return dirs;
    }

    /**
     * Moves every process of this cgroup (each with all its threads) into {@code target}, in every hierarchy, by
     * writing its pid to the target's {@code cgroup.procs}; a process forked meanwhile is moved by the next pass (at
     * most {@value #MOVE_PASSES}). Memory charged so far stays charged where it was (Linux
     * Documentation/admin-guide/cgroup-v2.rst, "Memory Ownership").
     *
     * @throws IOException if a write fails or processes are still here after the last pass
     */
    public void moveProcessesTo(HostCgroup target) throws IOException {
        if (dirs.size() != target.dirs.size()) {
            throw new IOException("move host cgroup " + path + " to " + target.path + ": not the same hierarchies");
        }
        for (int i = 0; i < dirs.size(); i++) {
            List<Long> left = pids(dirs.get(i));
            for (int pass = 0; !left.isEmpty(); pass++) {
                if (pass == MOVE_PASSES) {
                    throw new IOException("move host cgroup " + path + " to " + target.path + ": pids " + left
                            + " still in " + dirs.get(i));
                }
                for (long pid : left) {
                    try {
                        Files.writeString(target.dirs.get(i).resolve("cgroup.procs"), Long.toString(pid));
                    } catch (IOException e) {
                        if (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
                            throw new IOException("move pid " + pid + " to " + target.dirs.get(i) + ": "
                                    + e.getMessage(), e);
                        }
                    }
                }
                left = pids(dirs.get(i));
            }
        }
    }

    private static final int MOVE_PASSES = 3;

    /**
     * Removes the cgroup from every hierarchy, waiting up to a few seconds for exiting processes to
     * leave it. Failures are logged, not thrown: the caller is cleaning up.
     */
    public void remove() {
        for (Path dir : dirs) {
            removeDir(dir);
        }
    }

    /**
     * Kills every process in the cgroup (QEMU, virtiofsd and whatever they forked), waiting a bounded
     * time for them to go, then removes it from every hierarchy. Never throws.
     */
    public void killAndRemove() {
        killAll(dirs);
        remove();
    }

    /**
     * {@link #killAndRemove()} for {@code path} in every hierarchy under {@code root} where it exists,
     * for a dead shim's cleanup.
     */
    public static void killAndRemoveLeftover(Path root, String path) {
        try {
            List<Path> dirs = new ArrayList<>();
            for (Path hierarchy : hierarchies(root)) {
                Path dir = hierarchy.resolve(path.substring(1));
                if (Files.isDirectory(dir)) {
                    dirs.add(dir);
                }
            }
            killAll(dirs);
            dirs.forEach(HostCgroup::removeDir);
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "remove host cgroup " + path + ": " + e.getMessage());
        }
    }

    /**
     * cgroup v2's {@code cgroup.kill} where a directory has it (Linux 5.14+: atomic, forks cannot
     * escape), and SIGKILL to every pid listed in each {@code cgroup.procs} until none is left or
     * {@link #REMOVE_WAIT} passed (v1 hierarchies). The shim itself is never signalled.
     */
    static void killAll(List<Path> dirs) {
        for (Path dir : dirs) {
            Path kill = dir.resolve("cgroup.kill");
            if (Files.exists(kill)) {
                try {
                    Files.writeString(kill, "1");
                } catch (IOException e) {
                    LOG.log(System.Logger.Level.DEBUG, "write " + kill + ": " + e.getMessage());
                }
            }
        }
        long self = ProcessHandle.current().pid();
        Instant deadline = Instant.now().plus(REMOVE_WAIT);
        while (true) {
            Set<Long> left = new LinkedHashSet<>();
            for (Path dir : dirs) {
                left.addAll(pids(dir));
            }
            left.remove(self);
            if (left.isEmpty()) {
                return;
            }
            if (Instant.now().isAfter(deadline)) {
                LOG.log(System.Logger.Level.WARNING, "host cgroup {0}: pids {1} still there after SIGKILL", dirs, left);
                return;
            }
            for (long pid : left) {
                try {
                    io.javakata.sys.Signals.kill((int) pid, io.javakata.sys.Signals.SIGKILL);
                } catch (io.javakata.sys.ErrnoException e) {
                    // exited meanwhile
                }
            }
            ProcessHandle.of(left.iterator().next()).ifPresent(handle -> {
                try {
                    handle.onExit().get(RETRY.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
                } catch (Exception e) {
                    // still exiting: look again
                }
            });
        }
    }

    private static List<Long> pids(Path dir) {
        try {
            String procs = Files.readString(dir.resolve("cgroup.procs")).strip();
            return procs.isEmpty() ? List.of() : Stream.of(procs.split("\\s+")).map(Long::parseLong).toList();
        } catch (IOException | NumberFormatException e) {
            return List.of();
        }
    }

    private static void removeDir(Path dir) {
        Instant deadline = Instant.now().plus(REMOVE_WAIT);
        while (true) {
            try {
                Files.deleteIfExists(dir);
                return;
            } catch (NoSuchFileException e) {
                return;
            } catch (DirectoryNotEmptyException e) {
                // a fake (test) directory with files, or a child cgroup: not ours to remove
                LOG.log(System.Logger.Level.WARNING, "rmdir " + dir + ": not empty");
                return;
            } catch (FileSystemException e) {
                // EBUSY: processes still inside (exiting)
                if (Instant.now().isAfter(deadline)) {
                    LOG.log(System.Logger.Level.WARNING, "rmdir " + dir + " failed: " + e.getMessage()
                            + "; processes: " + procs(dir));
                    return;
                }
                try {
                    Thread.sleep(RETRY);
                } catch (InterruptedException interrupted) {
                    Thread.currentThread().interrupt();
                    return;
                }
            } catch (IOException e) {
                LOG.log(System.Logger.Level.WARNING, "rmdir " + dir + " failed: " + e.getMessage());
                return;
            }
        }
    }

    private static String procs(Path dir) {
        try {
            return Files.readString(dir.resolve("cgroup.procs")).strip().replace('\n', ' ');
        } catch (IOException e) {
            return "?";
        }
    }

    private static void copyIfBlank(Path parent, Path dir, String file) throws IOException {
        Path target = dir.resolve(file);
        Path source = parent.resolve(file);
        if (Files.exists(target) && Files.exists(source) && Files.readString(target).isBlank()) {
            Files.writeString(target, Files.readString(source).strip());
        }
    }

    /** cgroup v2: lets children of {@code parent} use the controllers it has; best effort. */
    private static void enableControllers(Path parent) {
        try {
            Path available = parent.resolve("cgroup.controllers");
            Path subtree = parent.resolve("cgroup.subtree_control");
            if (!Files.exists(available) || !Files.exists(subtree)) {
                return;
            }
            List<String> offered = List.of(Files.readString(available).strip().split("\\s+"));
            List<String> enabled = List.of(Files.readString(subtree).strip().split("\\s+"));
            for (String controller : V2_CONTROLLERS) {
                if (offered.contains(controller) && !enabled.contains(controller)) {
                    try {
                        Files.writeString(subtree, "+" + controller);
                    } catch (IOException e) {
                        // e.g. the parent holds processes itself (no internal processes rule): stats stay partial
                        LOG.log(System.Logger.Level.DEBUG, "enable " + controller + " in " + subtree + ": " + e.getMessage());
                    }
                }
            }
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "enable controllers in " + parent + ": " + e.getMessage());
        }
    }
}
