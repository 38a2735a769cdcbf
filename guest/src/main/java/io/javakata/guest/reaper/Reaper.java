package io.javakata.guest.reaper;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.lang.ProcessBuilder.Redirect;
import java.nio.file.Path;
import java.time.Clock;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

import io.javakata.sys.Spawn;

/**
 * The single owner of exit statuses in the guest, where the agent is PID 1 or a child subreaper, so
 * every container process becomes its child once runc exits.
 *
 * <p>One platform thread loops on {@code waitid(P_ALL, WEXITED|WNOWAIT)}, which reports a zombie
 * without reaping it, and decides per pid:
 * <ul>
 *   <li>a {@linkplain #track tracked} container process: reap it and complete its future;</li>
 *   <li>a command the agent {@linkplain #spawn spawned}: the same, quietly;</li>
 *   <li>a process the JDK started ({@link #start}): leave it, the JDK's own reaper thread waitpid()s
 *       it; WNOWAIT reports it again until then, so back off a few milliseconds;</li>
 *   <li>anything else (an orphan re-parented to us): reap it and remember its status briefly, in
 *       case its pid is tracked a moment later.</li>
 * </ul>
 * Processes are started under the same lock the reaper takes to classify a pid, so a child that
 * dies at once is never mistaken for an orphan (containerd's {@code pkg/sys/reaper} solves the same
 * race by starting children while holding its subscriber lock).
 *
 * <p>Thread-safe. {@link #close()} stops the loop.
 */
public final class Reaper implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(Reaper.class.getName());
    private static final int RECENT_ORPHANS = 256;
    static final long JDK_CHILD_BACKOFF_MILLIS = 5;
    private static final Path DEV_NULL = Path.of("/dev/null");

    private final ChildWaiter waiter;
    private final Clock clock;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition childrenMayExist = lock.newCondition();
    private final Map<Integer, CompletableFuture<ExitStatus>> tracked = new HashMap<>();
    private final Set<Long> jdkChildren = new HashSet<>();
    /** Tracked pids whose exit is the agent's own command's (crun), logged at DEBUG only. */
    private final Set<Integer> commands = new HashSet<>();
    private final Map<Integer, ExitStatus> orphans = new LinkedHashMap<>(16, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Integer, ExitStatus> eldest) {
            return size() > RECENT_ORPHANS;
        }
    };
    private volatile boolean closed;
    private Thread thread;

    public Reaper(ChildWaiter waiter, Clock clock) {
        this.waiter = waiter;
        this.clock = clock;
    }

    /** Starts the reaping loop on a platform thread. */
    public void startLoop() {
        thread = Thread.ofPlatform().daemon().name("reaper").start(this::loop);
    }

    /** A process {@link #spawn} started: its pid, and its exit once reaped. */
    public record Child(int pid, CompletableFuture<ExitStatus> exit) {
    }

    /**
     * Starts {@code builder}'s command with posix_spawn ({@link Spawn}: without the JDK's helper process, one exec
     * fewer per command) and tracks it as a container process is tracked. Use this for the commands the agent runs
     * to their end (crun, poweroff). The command gets {@code builder}'s environment and directory and its redirects:
     * inherit, a file to read, write or append to ({@code DISCARD} is /dev/null), stderr merged into stdout. A
     * {@code PIPE}, which only a {@link Process} could read, is /dev/null here.
     *
     * @throws IOException if it cannot start (no such program, a redirected file cannot be opened)
     */
    public Child spawn(ProcessBuilder builder) throws IOException {
        lock.lock();
        try {
            // Under the lock, as start(): the loop cannot take a child that exits at once for an orphan.
            int pid = Spawn.spawn(builder.command(), builder.environment(),
                    builder.directory() == null ? null : builder.directory().toPath(),
                    stdio(builder.redirectInput(), true), stdio(builder.redirectOutput(), false),
                    builder.redirectErrorStream() ? new Spawn.Stdio.SameAs(1) : stdio(builder.redirectError(), false));
            orphans.remove(pid); // an earlier process's status under the same pid, if any
            CompletableFuture<ExitStatus> exit = new CompletableFuture<>();
            tracked.put(pid, exit);
            commands.add(pid);
            childrenMayExist.signalAll();
            return new Child(pid, exit);
        } finally {
            lock.unlock();
        }
    }

    private static Spawn.Stdio stdio(Redirect redirect, boolean input) {
        return switch (redirect.type()) {
            case INHERIT -> Spawn.INHERIT;
            case READ -> new Spawn.Stdio.ReadFrom(redirect.file().toPath());
            case WRITE -> new Spawn.Stdio.WriteTo(redirect.file().toPath(), false);
            case APPEND -> new Spawn.Stdio.WriteTo(redirect.file().toPath(), true);
            case PIPE -> input ? new Spawn.Stdio.ReadFrom(DEV_NULL) : new Spawn.Stdio.WriteTo(DEV_NULL, false);
        };
    }

    /**
     * Starts a process with the JDK, recording its pid so the loop leaves it to the JDK: for a process whose
     * output the agent reads through a {@link Process} (the debug console's shell). Commands run to their end go
     * through {@link #spawn}.
     */
    public Process start(ProcessBuilder builder) throws IOException {
        lock.lock();
        try {
            Process process = builder.start();
            long pid = process.pid();
            jdkChildren.add(pid);
            process.onExit().whenComplete((p, e) -> forgetJdkChild(pid));
            childrenMayExist.signalAll();
            return process;
        } finally {
            lock.unlock();
        }
    }

    /** Tracks a container process (now or soon our child); the future completes when it is reaped. */
    public CompletableFuture<ExitStatus> track(int pid) {
        lock.lock();
        try {
            CompletableFuture<ExitStatus> existing = tracked.get(pid);
            if (existing != null) {
                return existing;
            }
            ExitStatus early = orphans.remove(pid);
            if (early != null) {
                return CompletableFuture.completedFuture(early);
            }
            CompletableFuture<ExitStatus> future = new CompletableFuture<>();
            tracked.put(pid, future);
            childrenMayExist.signalAll();
            return future;
        } finally {
            lock.unlock();
        }
    }

    /** One pass of the loop: wait for a zombie and handle it. Returns false when there were no children. */
    boolean reapOnce() throws IOException, InterruptedException {
        int pid = waiter.waitAnyNoReap();
        if (closed) {
            return false;
        }
        if (pid < 0) {
            awaitChildren();
            return false;
        }
        boolean leaveToJdk;
        lock.lock();
        try {
            leaveToJdk = jdkChildren.contains((long) pid);
            if (!leaveToJdk) {
                reapLocked(pid);
            }
        } finally {
            lock.unlock();
        }
        if (leaveToJdk) {
            // WNOWAIT keeps reporting this zombie until the JDK's reaper thread collects it.
            TimeUnit.MILLISECONDS.sleep(JDK_CHILD_BACKOFF_MILLIS);
        }
        return true;
    }

    private void reapLocked(int pid) throws IOException {
        OptionalInt code = waiter.reap(pid);
        if (code.isEmpty()) {
            return;
        }
        ExitStatus status = new ExitStatus(code.getAsInt(), clock.instant());
        CompletableFuture<ExitStatus> future = tracked.remove(pid);
        if (future != null) {
            LOG.log(commands.remove(pid) ? Level.DEBUG : Level.INFO, "msg=\"process exited\" pid={0} status={1}",
                    pid, status.status());
            future.complete(status);
        } else {
            LOG.log(Level.DEBUG, "msg=\"reaped orphan\" pid={0} status={1}", pid, status.status());
            orphans.put(pid, status);
        }
    }

    private void awaitChildren() throws InterruptedException {
        lock.lock();
        try {
            // No children now: sleep until something is started or tracked; the timeout covers
            // orphans adopted without our doing.
            childrenMayExist.await(1, TimeUnit.SECONDS);
        } finally {
            lock.unlock();
        }
    }

    private void forgetJdkChild(long pid) {
        lock.lock();
        try {
            jdkChildren.remove(pid);
        } finally {
            lock.unlock();
        }
    }

    private void loop() {
        while (!closed) {
            try {
                reapOnce();
            } catch (InterruptedException e) {
                return;
            } catch (IOException | RuntimeException e) {
                LOG.log(Level.ERROR, "msg=\"reaper: {0}\"", e.getMessage());
                try {
                    TimeUnit.MILLISECONDS.sleep(100);
                } catch (InterruptedException ie) {
                    return;
                }
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        if (thread != null) {
            thread.interrupt();
        }
    }
}
