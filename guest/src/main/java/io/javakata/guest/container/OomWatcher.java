package io.javakata.guest.container;

import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Answers GetOOMEvent: watches the {@code memory.events oom_kill} counter of every container's cgroup
 * and names a container whose counter grew since it was last reported.
 *
 * <p>It reads the counters when a container's cgroup directory reports a change, and at the latest every
 * {@code period} (which also picks up containers created since). The kernel reports the change: a value change of
 * {@code memory.events} is a file modified event (Linux Documentation/admin-guide/cgroup-v2.rst, "memory.events";
 * mm/memcontrol.c {@code memcg_memory_event} notifies the file), which kernfs also delivers to inotify watchers of the
 * file's directory (fs/kernfs/file.c {@code kernfs_notify_workfn}), and the JDK's {@link WatchService} is inotify on
 * Linux, read by one platform thread of its own. So an idle guest does not wake every few hundred milliseconds to
 * read files that did not change, which under TCG costs every pod a share of a host core. Without a watch service
 * the counters are read every {@code period}.
 * An OOM kill that ends a process the host waits on is also reported through WaitProcess's oom_killed, which marks
 * it here, so this does not report it a second time if it has not seen it yet.
 *
 * <p>Thread-safe; {@link #next} blocks and serves one caller at a time.
 */
public final class OomWatcher {

    private static final System.Logger LOG = System.getLogger(OomWatcher.class.getName());

    private final ContainerManager containers;
    private final Duration period;
    private final Map<Container, Long> reported = new ConcurrentHashMap<>();
    private final ReentrantLock lock = new ReentrantLock();
    /** The watched cgroup directories; guarded by {@link #lock}. Null until the first {@link #next}, or without one. */
    private WatchService watcher;
    private final Map<Path, WatchKey> watched = new HashMap<>();
    private boolean watcherFailed;

    /**
     * @param period the longest time between two readings of the counters
     */
    public OomWatcher(ContainerManager containers, Duration period) {
        this.containers = containers;
        this.period = period;
    }

    /** Blocks until a container's cgroup records a new OOM kill, then returns that container's id. */
    public String next() throws InterruptedException {
        lock.lockInterruptibly();
        try {
            while (true) {
                Collection<Container> all = containers.all();
                reported.keySet().retainAll(all);
                watch(all);
                for (Container c : all) {
                    if (c.cgroup() == null) {
                        continue;
                    }
                    long kills = c.cgroup().oomKills();
                    long seen = reported.getOrDefault(c, c.oomKillsAtStart());
                    if (kills > seen) {
                        reported.put(c, kills);
                        return c.id();
                    }
                }
                awaitChange();
            }
        } finally {
            lock.unlock();
        }
    }

    /** Records that {@code kills} OOM kills of this container reached the host another way. */
    public void markReported(Container container, long kills) {
        reported.merge(container, kills, Math::max);
    }

    /** Watches the cgroup directory of every container in {@code all}, and no other. Guarded by lock. */
    private void watch(Collection<Container> all) {
        if (watcherFailed) {
            return;
        }
        try {
            if (watcher == null) {
                watcher = FileSystems.getDefault().newWatchService();
            }
            var dirs = new HashSet<Path>();
            for (Container c : all) {
                if (c.cgroup() != null) {
                    dirs.add(c.cgroup().dir());
                }
            }
            watched.entrySet().removeIf(e -> {
                if (dirs.contains(e.getKey()) && e.getValue().isValid()) {
                    return false;
                }
                e.getValue().cancel();
                return true;
            });
            for (Path dir : dirs) {
                if (!watched.containsKey(dir)) {
                    try {
                        watched.put(dir, dir.register(watcher, StandardWatchEventKinds.ENTRY_MODIFY));
                    } catch (IOException e) {
                        // Not there yet (created, not started) or gone: read every period until it is.
                        LOG.log(System.Logger.Level.DEBUG, "msg=\"watch {0}: {1}\"", dir, e.toString());
                    }
                }
            }
        } catch (IOException | ClosedWatchServiceException e) {
            LOG.log(System.Logger.Level.WARNING, "msg=\"no inotify watch of the containers'' cgroups: {0}; reading "
                    + "memory.events every {1} ms\"", e.toString(), period.toMillis());
            watcherFailed = true;
        }
    }

    /** Returns when a watched directory changed, or after {@code period}. Guarded by lock. */
    private void awaitChange() throws InterruptedException {
        if (watcher == null || watcherFailed) {
            TimeUnit.MILLISECONDS.sleep(period.toMillis());
            return;
        }
        try {
            WatchKey key = watcher.poll(period.toMillis(), TimeUnit.MILLISECONDS);
            while (key != null) {
                key.pollEvents();
                key.reset();
                key = watcher.poll();
            }
        } catch (ClosedWatchServiceException e) {
            watcherFailed = true;
        }
    }
}
