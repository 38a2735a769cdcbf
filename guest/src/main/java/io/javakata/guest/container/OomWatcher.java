package io.javakata.guest.container;

import java.time.Duration;
import java.util.Collection;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Answers GetOOMEvent: watches the {@code memory.events oom_kill} counter of every container's cgroup
 * and names a container whose counter grew since it was last reported.
 *
 * <p>The counter is polled every {@code period}: cgroup v2 does signal changes of memory.events to
 * inotify and poll(2) watchers, but neither is bound in {@code io.javakata.sys} yet (issue 3). An OOM
 * kill that ends a process the host waits on is also reported through WaitProcess's oom_killed,
 * which marks it here, so the poll does not report it a second time if it has not seen it yet.
 *
 * <p>Thread-safe; {@link #next} blocks and serves one caller at a time.
 */
public final class OomWatcher {

    private final ContainerManager containers;
    private final Duration period;
    private final Map<Container, Long> reported = new ConcurrentHashMap<>();
    private final ReentrantLock lock = new ReentrantLock();

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
                TimeUnit.MILLISECONDS.sleep(period.toMillis());
            }
        } finally {
            lock.unlock();
        }
    }

    /** Records that {@code kills} OOM kills of this container reached the host another way. */
    public void markReported(Container container, long kills) {
        reported.merge(container, kills, Math::max);
    }
}
