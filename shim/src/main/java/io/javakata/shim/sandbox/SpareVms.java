package io.javakata.shim.sandbox;

import io.javakata.shim.config.RuntimeConfig;
import io.javakata.shim.config.ShimContext;
import io.javakata.ttrpc.Errors;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

/**
 * The spare VM of this process (docs/architecture.md, "Warm spare VMs"): a warm shim whose configuration has
 * {@code [template] spares} makes one ({@link #prepare}) while it waits for a pod; the pod's sandbox then takes it
 * ({@link Sandbox#create}, through {@link #take}) instead of restoring a VM. A spare lives in
 * {@code <state_dir>/spares/<warm shim pid>/}, the layout of a sandbox's directory, with a journal (sandbox.json)
 * naming its shim and every resource, so that the spare of a shim that died is swept ({@link #sweep}) by the next
 * spare's start and by {@code template rm}.
 */
public final class SpareVms {

    /** The containerd namespace a spare's journal names until a pod takes it. */
    static final String NAMESPACE = "javakata-spare";
    private static final System.Logger LOG = System.getLogger(SpareVms.class.getName());
    private static final AtomicReference<Sandbox> HELD = new AtomicReference<>();

    private SpareVms() {
    }

    /** The host cgroup (a cgroupfs path) of the spare VM in {@code paths}: {@code /javakata-spares/<its name>}. */
    static String cgroupPath(SandboxPaths paths) {
        return "/javakata-spares/" + paths.dir().getFileName();
    }

    /** Where the spares of a state dir live. */
    public static Path root(Path stateDir) {
        return stateDir.resolve("spares");
    }

    /**
     * Makes this process's spare VM for {@code config} (its vCPUs and memory, its template), after sweeping the spares
     * of dead shims. Blocks for the restore and the rehearsal; a failure is logged and leaves no spare (pods then
     * start as without one). Does nothing unless the configuration has {@code [template] spares}.
     */
    public static void prepare(RuntimeConfig config) {
        if (!config.template().spares() || HELD.get() != null) {
            return;
        }
        Path root = root(config.runtime().stateDir());
        sweep(root);
        String spareId = "spare-" + ProcessHandle.current().pid();
        long started = System.nanoTime();
        try {
            Files.createDirectories(root);
            Files.setPosixFilePermissions(root, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
            SandboxPaths paths = new SandboxPaths(root.resolve(Long.toString(ProcessHandle.current().pid())));
            ShimContext ctx = new ShimContext(NAMESPACE, spareId, "", "", null, config, config.runtime().debug());
            Sandbox spare = Sandbox.createSpare(ctx, spareId, paths, VmLauncher.forConfig(config));
            HELD.set(spare);
            LOG.log(System.Logger.Level.INFO, "spare VM {0} ready in {1} ms (VMM pid {2})", spareId,
                    String.valueOf((System.nanoTime() - started) / 1_000_000), String.valueOf(spare.pid()));
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "spare VM {0} not made: {1}", spareId,
                    e instanceof io.javakata.ttrpc.RuntimeStatusException ? e.getMessage() : Errors.describe(e));
        }
    }

    /** This process's spare VM, once: the caller takes it or stops it. */
    static Optional<Sandbox> take() {
        return Optional.ofNullable(HELD.getAndSet(null));
    }

    /** Stops this process's spare VM, if it has one (a warm shim that exits without a pod). */
    public static void discard() {
        take().ifPresent(Sandbox::stop);
    }

    /**
     * Cleans up every spare under {@code root} whose shim is gone, from its journal (its VM's processes, its share,
     * its directory), and removes directories that have no journal and no live process of their name. Returns the
     * directories removed. Never throws: a failure is logged, and the next sweep tries again.
     */
    public static List<Path> sweep(Path root) {
        List<Path> removed = new ArrayList<>();
        if (!Files.isDirectory(root)) {
            return removed;
        }
        List<Path> dirs;
        try (Stream<Path> list = Files.list(root)) {
            dirs = list.filter(Files::isDirectory).toList();
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "spare VMs: list " + root + ": " + e.getMessage());
            return removed;
        }
        for (Path dir : dirs) {
            try {
                if (SandboxCleaner.cleanUpIfShimGone(new SandboxPaths(dir), deadByName(dir))) {
                    removed.add(dir);
                    LOG.log(System.Logger.Level.INFO, "spare VM {0}: its shim is gone; cleaned up", dir);
                }
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "spare VM " + dir + ": " + e.getMessage());
            }
        }
        return removed;
    }

    /** A spare VM as its journal names it. */
    public record Spare(Path dir, long shimPid, boolean shimAlive, long vmmPid) {
    }

    /** The spares under {@code root} that have a readable journal, by directory. */
    public static List<Spare> list(Path root) throws IOException {
        List<Spare> spares = new ArrayList<>();
        if (!Files.isDirectory(root)) {
            return spares;
        }
        try (Stream<Path> list = Files.list(root)) {
            for (Path dir : list.filter(Files::isDirectory).sorted().toList()) {
                Path journal = new SandboxPaths(dir).sandboxJson();
                if (!Files.exists(journal)) {
                    continue;
                }
                try {
                    SandboxState state = SandboxState.read(journal);
                    spares.add(new Spare(dir, state.shimPid(), HostProcesses.isAlive(state.shimPid(),
                            state.shimStartTime()), state.vm().map(PodResource.Vm::vmmPid).orElse(0L)));
                } catch (IOException e) {
                    LOG.log(System.Logger.Level.WARNING, "spare VM " + dir + ": unreadable journal: " + e.getMessage());
                }
            }
        }
        return spares;
    }

    /**
     * SIGKILLs every live warm shim that holds a spare under {@code root} (same pid and start time as its journal
     * says), waiting a bounded time for each to go; how many it killed. Their spares are then {@link #sweep}'s.
     */
    public static int killShims(Path root) throws IOException {
        int killed = 0;
        for (Path dir : list(root).stream().filter(Spare::shimAlive).map(Spare::dir).toList()) {
            SandboxState state = SandboxState.read(new SandboxPaths(dir).sandboxJson());
            if (!HostProcesses.isAlive(state.shimPid(), state.shimStartTime())) {
                continue;
            }
            try {
                io.javakata.sys.Signals.kill((int) state.shimPid(), io.javakata.sys.Signals.SIGKILL);
                killed++;
            } catch (io.javakata.sys.ErrnoException e) {
                continue; // exited meanwhile
            }
            long deadline = System.nanoTime() + PodResource.KILL_WAIT.toNanos();
            while (HostProcesses.isAlive(state.shimPid(), state.shimStartTime()) && System.nanoTime() < deadline) {
                ProcessHandle.of(state.shimPid()).ifPresent(handle -> io.javakata.hypervisor.ChildProcesses.awaitExit(
                        handle, java.time.Duration.ofMillis(50)));
            }
        }
        return killed;
    }

    /** Whether the process a spare's directory is named after (its warm shim's pid) is gone. */
    private static boolean deadByName(Path dir) {
        String name = dir.getFileName().toString();
        if (!name.matches("[1-9][0-9]{0,9}")) {
            return true;
        }
        return ProcessHandle.of(Long.parseLong(name)).map(p -> !p.isAlive()).orElse(true);
    }
}
