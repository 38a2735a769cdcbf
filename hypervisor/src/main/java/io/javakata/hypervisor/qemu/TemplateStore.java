package io.javakata.hypervisor.qemu;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * The VM templates under {@code <state_dir>/templates/}, one directory per {@link TemplateShape#key()}:
 * <pre>
 *   &lt;key&gt;/          a finished template ({@link VmTemplate}); appears whole, by one rename; its mtime is
 *                   when a pod last started from it ({@link #markUsed})
 *   &lt;key&gt;.build/    a template being built (the template VM's sockets and logs, its memory and state)
 *   &lt;key&gt;.lock      held (flock) by the one shim that builds this shape; the others wait for it
 *   &lt;key&gt;.failed    why the last build failed: pods of this shape cold-boot for {@link #RETRY_AFTER}, or until
 *                   {@code template rm}
 *   digests/        file digests of {@link TemplateShape}
 * </pre>
 * A shim killed while building leaves {@code <key>.build/} and releases its lock with its death; the next builder
 * removes what it left. Each template holds its guest's RAM on the state dir's tmpfs, so the store keeps a bounded
 * number: {@link #evict} removes the least recently used beyond it. Thread-safety: one pod per shim builds; the file
 * lock serialises shims.
 */
public final class TemplateStore {

    private static final Duration LOCK_POLL = Duration.ofMillis(50);
    /** How long a failed build keeps pods of its shape from trying again. */
    public static final Duration RETRY_AFTER = Duration.ofMinutes(10);

    private final Path root;

    public TemplateStore(Path root) {
        this.root = Objects.requireNonNull(root, "root");
    }

    /** {@code <state_dir>/templates}. */
    public static TemplateStore under(Path stateDir) {
        return new TemplateStore(stateDir.resolve("templates"));
    }

    public Path root() {
        return root;
    }

    /** Where {@link TemplateShape} caches file digests (the templates directory is made, root's alone, first). */
    public Path digests() throws IOException {
        createRoot();
        return root.resolve("digests");
    }

    /**
     * Records that a pod starts from {@code template} now (the directory's mtime), for {@link #evict}: a template
     * just used is the last to go, and is not removed while the pod may still be copying it.
     */
    public void markUsed(VmTemplate template) throws IOException {
        Files.setLastModifiedTime(template.dir(), FileTime.from(Instant.now()));
    }

    /**
     * Removes the least recently used finished templates beyond the {@code keep} most recent, with the failure
     * markers older than {@link #RETRY_AFTER}. A template is kept, whatever its rank, while it is {@code current}
     * (the one the caller just built or uses), while a pod started from it within {@code inUse} (its restore may still
     * be copying the memory file: pass at least the longest restore), and while another shim holds its lock (it is
     * being rebuilt). A removed template is first renamed, so no pod finds half of one.
     *
     * @return the keys removed, least recently used first
     */
    public List<String> evict(int keep, Duration inUse, String current) throws IOException {
        if (keep < 1) {
            throw new IllegalArgumentException("keep " + keep + " < 1");
        }
        List<VmTemplate> byRecency = new ArrayList<>(list());
        Map<VmTemplate, Instant> used = new HashMap<>();
        for (VmTemplate t : byRecency) {
            used.put(t, Files.getLastModifiedTime(t.dir()).toInstant());
        }
        byRecency.sort(Comparator.comparing((VmTemplate t) -> !key(t).equals(current))
                .thenComparing(used::get, Comparator.reverseOrder()));
        Instant recent = Instant.now().minus(inUse);
        List<String> removed = new ArrayList<>();
        for (VmTemplate t : byRecency.subList(Math.min(keep, byRecency.size()), byRecency.size()).reversed()) {
            if (used.get(t).isAfter(recent)) {
                continue; // current sorts first, so it is always among the kept
            }
            try (Lock lock = tryLock(key(t))) {
                // Its mtime again, under its lock: a pod may have started from it since the listing.
                if (lock == null || Files.getLastModifiedTime(t.dir()).toInstant().isAfter(recent)) {
                    continue;
                }
                Path doomed = root.resolve(key(t) + ".evicted");
                deleteTree(doomed);
                Files.move(t.dir(), doomed, StandardCopyOption.ATOMIC_MOVE);
                deleteTree(doomed);
                removed.add(key(t));
            }
        }
        for (Path marker : entries("*.failed")) {
            if (Files.getLastModifiedTime(marker).toInstant().isBefore(Instant.now().minus(RETRY_AFTER))) {
                Files.deleteIfExists(marker);
            }
        }
        return List.copyOf(removed);
    }

    private static String key(VmTemplate template) {
        return template.dir().getFileName().toString();
    }

    /** The finished template of {@code shape}, if there is one. */
    public Optional<VmTemplate> find(TemplateShape shape) {
        VmTemplate template = new VmTemplate(root.resolve(shape.key()));
        return Files.isRegularFile(template.state()) && Files.isRegularFile(template.memory())
                ? Optional.of(template) : Optional.empty();
    }

    /**
     * Why the last build of {@code shape} failed, if it did less than {@link #RETRY_AFTER} ago: until then pods of
     * this shape cold-boot at once instead of each trying again (a build costs a boot); after it, the next pod
     * tries again (the cause may have been passing, a host under load).
     */
    public Optional<String> failure(TemplateShape shape) throws IOException {
        Path marker = root.resolve(shape.key() + ".failed");
        if (!Files.exists(marker)) {
            return Optional.empty();
        }
        Duration age = Duration.between(Files.getLastModifiedTime(marker).toInstant(), Instant.now());
        return age.compareTo(RETRY_AFTER) < 0 ? Optional.of(Files.readString(marker).strip()) : Optional.empty();
    }

    /** Removes what a failed build left (its memory file above all); hold the lock. */
    public void discardBuild(TemplateShape shape) throws IOException {
        deleteTree(root.resolve(shape.key() + ".build"));
    }

    /**
     * Removes the build directories no shim is building any more (their lock is free: a builder holds it from
     * {@link #newBuildDir} to {@link #commit}), which a builder killed mid-build left with a template VM's RAM in
     * them. Returns the keys whose build was removed.
     */
    public List<String> discardAbandonedBuilds() throws IOException {
        List<String> removed = new ArrayList<>();
        for (Path build : entries("*.build")) {
            String key = build.getFileName().toString().replaceFirst("\\.build$", "");
            try (Lock lock = tryLock(key)) {
                if (lock != null) {
                    deleteTree(build);
                    removed.add(key);
                }
            }
        }
        return List.copyOf(removed);
    }

    /** Records that building {@code shape} failed, so later pods cold-boot at once naming {@code reason}. */
    public void markFailed(TemplateShape shape, String reason) throws IOException {
        createRoot();
        Files.writeString(root.resolve(shape.key() + ".failed"), reason + "\n");
    }

    /**
     * Takes the build lock of {@code shape}, waiting at most {@code timeout} for another shim that holds it.
     *
     * @throws IOException if the lock is still held after {@code timeout}
     */
    public Lock lock(TemplateShape shape, Duration timeout) throws IOException {
        createRoot();
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            while (true) {
                Lock lock = tryLock(shape.key());
                if (lock != null) {
                    return lock;
                }
                if (System.nanoTime() - deadline > 0) {
                    throw new IOException("template " + shape.key() + ": another shim has been building it for more "
                            + "than " + timeout.toSeconds() + " s (" + root.resolve(shape.key() + ".lock")
                            + " is locked)");
                }
                Thread.sleep(LOCK_POLL);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("template " + shape.key() + ": interrupted waiting for its lock", e);
        }
    }

    /**
     * The lock of {@code key} if no one holds it now, else null: another shim, or this JVM through another channel
     * (a pod of this shim building), holds it.
     */
    private Lock tryLock(String key) throws IOException {
        FileChannel channel = FileChannel.open(root.resolve(key + ".lock"), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE);
        try {
            FileLock lock;
            try {
                lock = channel.tryLock();
            } catch (java.nio.channels.OverlappingFileLockException heldHere) {
                lock = null;
            }
            if (lock == null) {
                channel.close();
                return null;
            }
            return new Lock(channel, lock);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    /** A fresh build directory for {@code shape} (what a killed build left there is removed); hold its lock. */
    public Path newBuildDir(TemplateShape shape) throws IOException {
        Path dir = root.resolve(shape.key() + ".build");
        deleteTree(dir);
        Files.createDirectories(dir);
        return dir;
    }

    /**
     * Turns a build directory holding {@code state} and {@code memory} (and {@code kernel-header}, if the kernel has
     * one) into the template of {@code shape}: the
     * template VM's other files go, {@code shape.txt} is written, and one rename makes it visible whole.
     */
    public VmTemplate commit(TemplateShape shape, Path buildDir) throws IOException {
        List<String> keep = List.of("state", "memory", "kernel-header", "console.log");
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(buildDir)) {
            for (Path entry : entries) {
                if (!keep.contains(entry.getFileName().toString())) {
                    deleteTree(entry);
                }
            }
        }
        StringBuilder text = new StringBuilder("hash=" + shape.hash() + "\n");
        shape.inputs().forEach((k, v) -> text.append(k).append('=').append(v).append('\n'));
        Files.writeString(buildDir.resolve("shape.txt"), text);
        // A template's RAM and state are the guest's memory: root's alone (QEMU opens a clone's copy while root).
        for (String file : List.of("state", "memory")) {
            Files.setPosixFilePermissions(buildDir.resolve(file), java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        }
        Path dir = root.resolve(shape.key());
        deleteTree(dir);
        Files.move(buildDir, dir, StandardCopyOption.ATOMIC_MOVE);
        Files.deleteIfExists(root.resolve(shape.key() + ".failed"));
        return new VmTemplate(dir);
    }

    /** The finished templates, for {@code template ls}. */
    public List<VmTemplate> list() throws IOException {
        List<VmTemplate> templates = new ArrayList<>();
        for (Path entry : entries("[0-9a-f]*")) {
            if (Files.isDirectory(entry) && entry.getFileName().toString().matches("[0-9a-f]{32}")) {
                templates.add(new VmTemplate(entry));
            }
        }
        templates.sort(Comparator.comparing(VmTemplate::dir));
        return List.copyOf(templates);
    }

    /** The entries of the templates directory that match {@code glob}; none while it does not exist. */
    private List<Path> entries(String glob) throws IOException {
        if (!Files.isDirectory(root)) {
            return List.of();
        }
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(root, glob)) {
            List<Path> matching = new ArrayList<>();
            entries.forEach(matching::add);
            return matching;
        }
    }

    /** Removes every template, build and failure marker: the next pod of each shape builds it again. */
    public void removeAll() throws IOException {
        deleteTree(root);
    }

    static void deleteTree(Path dir) throws IOException {
        io.javakata.sys.Mounts.deleteTree(dir);
    }

    /** The templates directory, root's alone (0700). */
    private void createRoot() throws IOException {
        if (!Files.isDirectory(root)) {
            Files.createDirectories(root);
            Files.setPosixFilePermissions(root, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
        }
    }

    /** A held build lock; closing it releases the lock. */
    public static final class Lock implements AutoCloseable {
        private final FileChannel channel;
        private final FileLock lock;

        private Lock(FileChannel channel, FileLock lock) {
            this.channel = channel;
            this.lock = lock;
        }

        @Override
        public void close() throws IOException {
            try {
                lock.release();
            } finally {
                channel.close();
            }
        }
    }
}
