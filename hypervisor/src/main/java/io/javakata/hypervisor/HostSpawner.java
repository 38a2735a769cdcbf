package io.javakata.hypervisor;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Starts the host processes that serve a VM (QEMU, virtiofsd) so that they cannot outlive their pod.
 * Each one, before it execs its real command:
 * <ol>
 *   <li>gets {@code PR_SET_PDEATHSIG} = SIGKILL ({@code setpriv --pdeathsig KILL}): it dies with the
 *       shim. The signal follows the death of the parent <em>thread</em>, so every process is spawned
 *       from one platform thread that lives as long as this JVM (prctl(2): PR_SET_PDEATHSIG fires when the
 *       thread that created the process ends, not the process). An
 *       exec of a set-user-ID program or a change of its own credentials clears the setting: QEMU
 *       switching to {@code run_as} loses it, and the cgroup below is what binds QEMU then;</li>
 *   <li>joins the pod's host cgroup in every hierarchy (its own pid written to each {@code cgroup.procs}):
 *       the process and everything it forks sit there from their first instruction, so the pod's
 *       cleanup, or containerd's {@code delete} after a dead shim, kills them as a group from the
 *       cgroup alone.</li>
 * </ol>
 * The pid Java reports is the real command's: setpriv and the shell exec, they do not fork.
 *
 * <p>Thread-safety: {@link #start} may be called from any thread; starts are serialised on the
 * spawner thread (a start takes a few milliseconds).
 */
public final class HostSpawner {

    /** util-linux's setpriv (Debian's util-linux is Essential: every host has it). */
    static final Path SETPRIV = Path.of("/usr/bin/setpriv");
    static final Path SHELL = Path.of("/bin/sh");
    /**
     * Writes the shell's pid into each cgroup.procs file named before "--", then execs the rest. A
     * write that fails ends it with 125 before anything of the VM runs, its error in the log.
     */
    static final String JOIN_CGROUPS = "while [ \"$1\" != -- ]; do echo $$ > \"$1\" || exit 125; shift; done; "
            + "shift; exec \"$@\"";

    /** The one thread every VM process is spawned from: never ends, so PDEATHSIG fires only with the JVM. */
    private static final ExecutorService SPAWNER = Executors.newSingleThreadExecutor(
            task -> Thread.ofPlatform().daemon().name("javakata-spawner").unstarted(task));

    private HostSpawner() {
    }

    /**
     * The command line that runs {@code command} with the parent-death signal set and inside the
     * cgroup directories {@code cgroupDirs} (none: no cgroup change).
     */
    public static List<String> argv(List<String> command, List<Path> cgroupDirs) {
        if (command.isEmpty()) {
            throw new IllegalArgumentException("command: must not be empty");
        }
        List<String> argv = new ArrayList<>(List.of(SETPRIV.toString(), "--pdeathsig", "KILL", "--"));
        if (!cgroupDirs.isEmpty()) {
            argv.addAll(List.of(SHELL.toString(), "-c", JOIN_CGROUPS, "javakata-join-cgroup"));
            for (Path dir : cgroupDirs) {
                argv.add(dir.resolve("cgroup.procs").toString());
            }
            argv.add("--");
        }
        argv.addAll(command);
        return argv;
    }

    /**
     * Starts {@code command} as {@link #argv} describes, stdin from /dev/null, stdout and stderr
     * to {@code log} (replaced).
     *
     * @throws IOException if the process cannot be started
     */
    public static Process start(List<String> command, List<Path> cgroupDirs, Path log) throws IOException {
        return start(command, cgroupDirs, log, Path.of("/dev/null"));
    }

    /**
     * As {@link #start(List, List, Path)} with stdin read from {@code stdin}, opened by this JVM (root) before the
     * exec: a clone of a VM template reads the template's state there, after QEMU dropped root.
     */
    public static Process start(List<String> command, List<Path> cgroupDirs, Path log, Path stdin) throws IOException {
        return start(command, cgroupDirs, log, stdin, null);
    }

    /**
     * As {@link #start(List, List, Path, Path)}, spawned from {@code confined}'s thread (null: the default one), so
     * that the process inherits the confinement that thread holds from its first instruction.
     */
    public static Process start(List<String> command, List<Path> cgroupDirs, Path log, Path stdin, Confined confined)
            throws IOException {
        Objects.requireNonNull(log, "log");
        Objects.requireNonNull(stdin, "stdin");
        List<String> argv = argv(command, cgroupDirs);
        ProcessBuilder builder = new ProcessBuilder(argv)
                .redirectInput(ProcessBuilder.Redirect.from(stdin.toFile()))
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.to(log.toFile()));
        if (!Files.isExecutable(SETPRIV)) {
            throw new IOException(SETPRIV + " is missing (util-linux): it binds " + command.getFirst()
                    + " to the shim's life");
        }
        Future<Process> started = confined == null ? SPAWNER.submit(builder::start) : confined.submit(builder);
        try {
            return started.get();
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            throw cause instanceof IOException io ? io : new IOException("start " + command.getFirst() + ": " + cause, cause);
        } catch (InterruptedException e) {
            // The spawn is under way and takes milliseconds: let it finish and end what it started,
            // so an interrupted caller never leaves a process it cannot know of.
            killWhenStarted(started);
            Thread.currentThread().interrupt();
            throw new IOException("start " + command.getFirst() + ": interrupted", e);
        }
    }

    /** What a {@link Confined} spawner applies to its own thread before it starts anything. */
    @FunctionalInterface
    public interface Confinement {
        void applyToThisThread() throws Exception;
    }

    /**
     * A spawner thread of its own, which applies a {@link Confinement} to itself once (a seccomp filter and
     * no_new_privs: both belong to the calling thread and pass to every child it creates, through fork, vfork and
     * posix_spawn alike, and across execve; seccomp(2), prctl(2)), then starts processes as the default spawner
     * does. The confinement holds in the spawned process from its first instruction, with no helper process in
     * between. Its thread, like the default one, never ends, so PDEATHSIG fires only with the JVM. If the
     * confinement cannot be applied, every start fails: nothing runs unconfined. Threads the JDK creates from this
     * one inherit the confinement too: its process reaper threads, which only wait for processes and complete their
     * exit futures.
     */
    public static final class Confined {
        private final String name;
        private final ExecutorService thread;
        private final Future<?> applied;

        /** Starts the thread, named {@code name}, which applies {@code confinement} before anything else. */
        public Confined(String name, Confinement confinement) {
            this.name = Objects.requireNonNull(name, "name");
            Objects.requireNonNull(confinement, "confinement");
            this.thread = Executors.newSingleThreadExecutor(
                    task -> Thread.ofPlatform().daemon().name(name).unstarted(task));
            this.applied = thread.submit(() -> {
                confinement.applyToThisThread();
                return null;
            });
        }

        Future<Process> submit(ProcessBuilder builder) {
            return thread.submit(() -> {
                try {
                    applied.get();
                } catch (ExecutionException e) {
                    throw new IOException("spawner " + name + " could not confine itself: " + e.getCause(),
                            e.getCause());
                }
                return builder.start();
            });
        }
    }

    private static void killWhenStarted(Future<Process> started) {
        while (true) {
            try {
                started.get().destroyForcibly();
                return;
            } catch (InterruptedException again) {
                // keep waiting: the spawn itself does not block
            } catch (ExecutionException failed) {
                return;
            }
        }
    }
}
