package io.javakata.shim.sandbox;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.javakata.hypervisor.ConsoleRing;
import io.javakata.hypervisor.Hypervisor;
import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One pod's boot phases, each with the milliseconds elapsed since the pod's shim started (its {@code serve}
 * process): {@value #CREATE_REQUESTED} (the shim's JVM is up and containerd's request to create the sandbox reached it),
 * {@value #VMM_SPAWNED}, {@value #KERNEL_UP} (the guest's first console output), {@value #INIT_STARTED} and
 * {@value #AGENT_STARTED} (from the guest's own clock in its console, see {@link #guestPhases}),
 * {@value #AGENT_ANSWERED} (the agent answered Check), {@value #AGENT_READY} (the guest is initialised: host entropy,
 * clock and the shared directory mounted), then {@value #CONTAINER_CREATED} and {@value #CONTAINER_STARTED} for every
 * container.
 * Each phase is one shim log line ({@code msg="boot phase=agent_ready elapsed_ms=8123 sandbox=…"}) and is kept in
 * {@code timeline.json} in the sandbox's state directory with the pod's identity, for {@code diagnose} and the
 * metrics.
 *
 * <p>Thread-safe (synchronized): phases arrive from the VM driver, the console watcher and task requests.
 */
public final class BootTimeline implements AutoCloseable {

    public static final String CREATE_REQUESTED = "create_requested";
    public static final String VMM_SPAWNED = "vmm_spawned";
    public static final String KERNEL_UP = "kernel_up";
    public static final String INIT_STARTED = "init_started";
    public static final String AGENT_STARTED = "agent_started";
    public static final String AGENT_ANSWERED = "agent_answered";
    public static final String AGENT_READY = "agent_ready";
    public static final String CONTAINER_CREATED = "container_created";
    public static final String CONTAINER_STARTED = "container_started";
    /** The file in the sandbox's state directory. */
    public static final String FILE_NAME = "timeline.json";

    /** CRI's sandbox annotations naming the pod (containerd pkg/cri/annotations). */
    static final String POD_NAME = "io.kubernetes.cri.sandbox-name";
    static final String POD_NAMESPACE = "io.kubernetes.cri.sandbox-namespace";
    static final String POD_UID = "io.kubernetes.cri.sandbox-uid";

    /** A pod restarting a container for days adds two phases per restart: keep the boot and the newest ones. */
    static final int MAX_PHASES = 200;
    /** The guest console is read back this far for the guest's own boot marks (a boot writes ~40 KiB). */
    private static final int CONSOLE_BYTES = 256 * 1024;

    private static final System.Logger LOG = System.getLogger(BootTimeline.class.getName());
    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
    /** The guest kernel hands over to userspace: "[    3.029063] Run /init as init process". */
    private static final Pattern INIT = Pattern.compile("\\[\\s*(\\d+\\.\\d+)] Run /init as init process");
    /** guest/image/init, right before it execs the agent: "javakata-init: exec agent at 4.33s" (guest uptime). */
    private static final Pattern AGENT_EXEC = Pattern.compile("javakata-init: exec agent at (\\d+(?:\\.\\d+)?)s");
    /** The agent's first log line once it serves: msg="agent ready" … uptime=8.88s. */
    private static final Pattern AGENT_UP = Pattern.compile("msg=\"agent ready\".*?\\buptime=(\\d+(?:\\.\\d+)?)s");

    /**
     * Who the pod is: the sandbox, and CRI's names for it ("" without CRI, e.g. {@code ctr run}).
     *
     * @param sandboxId    the sandbox id
     * @param namespace    the containerd namespace
     * @param podName      CRI's {@code io.kubernetes.cri.sandbox-name}
     * @param podNamespace CRI's {@code io.kubernetes.cri.sandbox-namespace}
     * @param podUid       CRI's {@code io.kubernetes.cri.sandbox-uid}
     */
    public record Identity(@JsonProperty("sandbox_id") String sandboxId,
                           @JsonProperty("namespace") String namespace,
                           @JsonProperty("pod_name") String podName,
                           @JsonProperty("pod_namespace") String podNamespace,
                           @JsonProperty("pod_uid") String podUid) {
        public Identity {
            Objects.requireNonNull(sandboxId, "sandboxId");
            namespace = Objects.requireNonNullElse(namespace, "");
            podName = Objects.requireNonNullElse(podName, "");
            podNamespace = Objects.requireNonNullElse(podNamespace, "");
            podUid = Objects.requireNonNullElse(podUid, "");
        }

        /** The identity a sandbox spec's annotations give. */
        public static Identity of(String sandboxId, String namespace, Map<String, String> annotations) {
            return new Identity(sandboxId, namespace, annotations.getOrDefault(POD_NAME, ""),
                    annotations.getOrDefault(POD_NAMESPACE, ""), annotations.getOrDefault(POD_UID, ""));
        }
    }

    /**
     * One phase.
     *
     * @param phase         its name
     * @param container     the container it concerns, "" for the pod's own phases
     * @param name          the container's CRI name, if known
     * @param elapsedMillis milliseconds since the shim started
     * @param guestClock    true if placed from the guest's clock (its uptime in the console), not seen by the host
     */
    @JsonInclude(JsonInclude.Include.NON_DEFAULT)
    public record Phase(@JsonProperty("phase") String phase,
                        @JsonProperty("container") String container,
                        @JsonProperty("name") String name,
                        @JsonProperty("elapsed_ms") long elapsedMillis,
                        @JsonProperty("guest_clock") boolean guestClock) {
        public Phase {
            Objects.requireNonNull(phase, "phase");
            container = Objects.requireNonNullElse(container, "");
            name = Objects.requireNonNullElse(name, "");
        }
    }

    /**
     * What timeline.json holds.
     *
     * @param identity who the pod is
     * @param origin   when the shim started: elapsed times count from here
     * @param phases   the phases, in elapsed order
     */
    public record Saved(@JsonProperty("pod") Identity identity, @JsonProperty("origin") String origin,
                        @JsonProperty("phases") List<Phase> phases) {
        public static Saved read(Path file) throws IOException {
            return JSON.readValue(file.toFile(), Saved.class);
        }
    }

    private final Identity identity;
    private final Path file;
    private final Path consoleLog;
    private final Instant origin;
    private final Clock clock;
    private final List<Phase> phases = new ArrayList<>();
    private final Map<String, String> names = new HashMap<>();
    private final Map<String, Integer> creations = new HashMap<>();
    /** The agent's first answer to Check, once seen. */
    private volatile Phase answered;
    private WatchService consoleWatch;

    BootTimeline(Identity identity, SandboxPaths paths, Instant origin, Clock clock) {
        this.identity = Objects.requireNonNull(identity, "identity");
        this.file = paths.dir().resolve(FILE_NAME);
        this.consoleLog = paths.consoleLog();
        this.origin = Objects.requireNonNull(origin, "origin");
        this.clock = Objects.requireNonNull(clock, "clock");
    }

    /** When containerd ran the `start` a warm shim took over ({@link #countFrom}); null in start's own JVM. */
    private static volatile Instant adoptedAt;

    /**
     * Makes this shim's pod count its phases from {@code launched}, when containerd ran the launcher whose `start` this
     * warm shim took over, instead of from this process's start, which may be long before (docs/architecture.md,
     * "Warm shims").
     */
    public static void countFrom(Instant launched) {
        adoptedAt = Objects.requireNonNull(launched, "launched");
    }

    /**
     * Starts the timeline of a pod whose state directory exists and whose VM is not launched yet, counting from this
     * shim's start (or {@link #countFrom}), and watches for the guest's first console output for at most
     * {@code bootTimeout}.
     */
    static BootTimeline start(Identity identity, SandboxPaths paths, Duration bootTimeout) {
        Instant adopted = adoptedAt;
        Instant origin = adopted != null ? adopted : processStart(Path.of("/proc"), Clock.systemUTC())
                .or(() -> ProcessHandle.current().info().startInstant()).orElseGet(Instant::now);
        BootTimeline timeline = new BootTimeline(identity, paths, origin, Clock.systemUTC());
        timeline.record(CREATE_REQUESTED, "", "", false);
        timeline.watchConsole(bootTimeout);
        return timeline;
    }

    /**
     * When this process started, to the kernel's clock tick: now minus the time between its start and now, both
     * counted from the host's boot ({@code starttime}, field 22 of {@code /proc/self/stat}, in USER_HZ ticks, 100 a
     * second on Linux; the uptime in {@code /proc/uptime}; proc(5)). ProcessHandle's start instant adds that
     * starttime to the boot time of {@code /proc/stat}'s {@code btime}, whole seconds: up to 1 s off.
     */
    static java.util.Optional<Instant> processStart(Path proc, Clock clock) {
        try {
            String stat = Files.readString(proc.resolve("self/stat"));
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            long startTicks = Long.parseLong(fields[22 - 3]);
            double uptime = Double.parseDouble(Files.readString(proc.resolve("uptime")).split(" ")[0]);
            long sinceStartMillis = Math.round(uptime * 1000) - startTicks * 10;
            return sinceStartMillis < 0 ? java.util.Optional.empty()
                    : java.util.Optional.of(clock.instant().minusMillis(sinceStartMillis));
        } catch (IOException | RuntimeException e) {
            return java.util.Optional.empty();
        }
    }

    public Identity identity() {
        return identity;
    }

    /** The phases so far, in elapsed order. */
    public synchronized List<Phase> phases() {
        return List.copyOf(phases);
    }

    /** The CRI name of each container created so far, by id ("" where CRI gave none). */
    public synchronized Map<String, String> containerNames() {
        return Map.copyOf(names);
    }

    /** How many times a container of each CRI name was created (a kubelet restart creates a new one). */
    public synchronized Map<String, Integer> creationsByName() {
        return Map.copyOf(creations);
    }

    /** For {@link Hypervisor#start(java.util.function.Consumer)}: the VMM process is {@value #VMM_SPAWNED}. */
    void launched(Hypervisor.OwnedProcess process) {
        if (Hypervisor.OwnedProcess.VMM.equals(process.role())) {
            record(VMM_SPAWNED, "", "", false);
        }
    }

    /**
     * The agent answered its first Check: {@value #AGENT_ANSWERED}. The console's first output is no longer the
     * kernel's start: a VM restored from a template prints only later (its hot-plugged devices), if at all.
     */
    void agentAnswered() {
        stopWatching();
        answered = record(AGENT_ANSWERED, "", "", false);
    }

    /**
     * The guest is initialised: {@value #AGENT_READY}, then the guest's own marks placed from its console, anchored at
     * the agent's answer to Check ({@link #agentAnswered}, else this phase).
     */
    void agentReady() {
        stopWatching();
        Phase ready = record(AGENT_READY, "", "", false);
        Phase anchor = answered == null ? ready : answered;
        for (Phase guest : guestPhases(ConsoleRing.tail(consoleLog, CONSOLE_BYTES), anchor.elapsedMillis())) {
            add(guest);
        }
    }

    public void containerCreated(String containerId, String name) {
        synchronized (this) {
            names.put(containerId, name);
            if (!name.isEmpty()) {
                creations.merge(name, 1, Integer::sum);
            }
        }
        record(CONTAINER_CREATED, containerId, name, false);
    }

    public void containerStarted(String containerId) {
        String name;
        synchronized (this) {
            name = names.getOrDefault(containerId, "");
        }
        record(CONTAINER_STARTED, containerId, name, false);
    }

    /** Stops watching the console (idempotent). */
    @Override
    public void close() {
        stopWatching();
    }

    private Phase record(String phase, String container, String name, boolean guestClock) {
        Phase p = new Phase(phase, container, name, Duration.between(origin, clock.instant()).toMillis(), guestClock);
        add(p);
        return p;
    }

    private void add(Phase p) {
        synchronized (this) {
            phases.add(p);
            phases.sort(Comparator.comparingLong(Phase::elapsedMillis));
            if (phases.size() > MAX_PHASES) {
                phases.stream().filter(x -> !x.container().isEmpty()).findFirst().ifPresent(phases::remove);
            }
            save();
        }
        LOG.log(System.Logger.Level.INFO, "boot phase=" + p.phase() + " elapsed_ms=" + p.elapsedMillis()
                + " sandbox=" + identity.sandboxId()
                + (p.container().isEmpty() ? "" : " container=" + p.container())
                + (p.name().isEmpty() ? "" : " name=" + p.name())
                + (p.guestClock() ? " clock=guest" : ""));
    }

    /** Rewrites timeline.json whole (write, then rename); a failure is logged: the pod does not depend on it. */
    private synchronized void save() {
        Path tmp = file.resolveSibling(FILE_NAME + ".tmp");
        try {
            JSON.writerWithDefaultPrettyPrinter().writeValue(tmp.toFile(), new Saved(identity, origin.toString(),
                    phases));
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot write {0}: {1}", file, e.getMessage());
        }
    }

    /**
     * The guest's own boot marks in its console (the kernel starting init, init starting the agent), placed on the
     * host's time line by the agent's uptime when it logged "agent ready", which the host saw answer at
     * {@code readyElapsed}. Under TCG and KVM alike the guest's uptime runs at the host's pace (QEMU's virtual clock
     * follows the host's unless -icount is given), so the error is the time between that log line and the first
     * Check answer: a few hundred ms at most. Empty without the agent's line.
     */
    static List<Phase> guestPhases(String console, long readyElapsed) {
        Matcher up = AGENT_UP.matcher(console);
        double readyUptime = -1;
        while (up.find()) {
            readyUptime = Double.parseDouble(up.group(1));
        }
        if (readyUptime < 0) {
            return List.of();
        }
        List<Phase> found = new ArrayList<>();
        for (var mark : List.of(Map.entry(INIT_STARTED, INIT), Map.entry(AGENT_STARTED, AGENT_EXEC))) {
            Matcher m = mark.getValue().matcher(console);
            double at = -1;
            while (m.find()) {
                at = Double.parseDouble(m.group(1));
            }
            if (at >= 0 && at <= readyUptime) {
                found.add(new Phase(mark.getKey(), "", "", readyElapsed - Math.round((readyUptime - at) * 1000), true));
            }
        }
        return found;
    }

    void watchConsole(Duration limit) {
        try {
            WatchService watch = consoleLog.getFileSystem().newWatchService();
            consoleLog.getParent().register(watch, StandardWatchEventKinds.ENTRY_CREATE,
                    StandardWatchEventKinds.ENTRY_MODIFY);
            synchronized (this) {
                consoleWatch = watch;
            }
            Thread.ofVirtual().name("boot-console-" + identity.sandboxId()).start(() -> awaitConsole(watch, limit));
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "sandbox {0}: cannot watch {1} for the kernel''s first output: {2}",
                    identity.sandboxId(), consoleLog, e.getMessage());
        }
    }

    /** Waits (inotify, through the WatchService) for the console's first bytes, until closed or {@code limit}. */
    private void awaitConsole(WatchService watch, Duration limit) {
        long deadline = System.nanoTime() + limit.toNanos();
        try (watch) {
            while (!consoleHasOutput()) {
                long left = deadline - System.nanoTime();
                WatchKey key = left > 0 ? watch.poll(left, TimeUnit.NANOSECONDS) : null;
                if (key == null) {
                    return;
                }
                key.pollEvents();
                key.reset();
            }
            kernelUp();
        } catch (ClosedWatchServiceException e) {
            // agentReady() or close(): the wait is over
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "console watch: " + e.getMessage());
        }
    }

    private boolean consoleHasOutput() {
        try {
            return Files.exists(consoleLog) && Files.size(consoleLog) > 0;
        } catch (IOException e) {
            return false;
        }
    }

    /** {@value #KERNEL_UP}, once, and only while the agent has not answered (after that the moment is unknown). */
    private synchronized void kernelUp() {
        if (phases.stream().noneMatch(p -> List.of(KERNEL_UP, AGENT_ANSWERED, AGENT_READY).contains(p.phase()))) {
            record(KERNEL_UP, "", "", false);
        }
    }

    private void stopWatching() {
        WatchService watch;
        synchronized (this) {
            watch = consoleWatch;
            consoleWatch = null;
        }
        if (watch != null) {
            try {
                watch.close();
            } catch (IOException e) {
                LOG.log(System.Logger.Level.DEBUG, "console watch close: " + e.getMessage());
            }
        }
    }
}
