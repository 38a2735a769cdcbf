package io.javakata.shim.metrics;

import io.containerd.cgroups.v2.Metrics;
import io.javakata.hypervisor.Hypervisor;
import io.javakata.shim.agent.Agent;
import io.javakata.shim.agent.AgentLatencies;
import io.javakata.shim.sandbox.BootTimeline;
import io.javakata.shim.sandbox.Sandbox;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * One pod's metrics, rendered fresh for each scrape: who the pod is, its boot phases and container restarts, how fast
 * its agent answers, what its VM costs on the host (CPU and resident memory of QEMU and virtiofsd with their
 * children, the VM's vCPUs and memory as QEMU was given them) and what the guest and its containers use inside (the
 * guest kernel's memory, load and uptime through the agent's GuestStats, each container's cgroup through its
 * StatsContainer; an agent older than GuestStats leaves the guest-wide families out). The shim's own JVM is counted too: it is part of a pod's cost.
 * Blocking: up to {@link #STATS_WAIT} for the agent; thread-safe.
 */
public final class PodMetrics {

    /** How long a scrape waits for the guest's container stats; later answers are left out of that scrape. */
    static final Duration STATS_WAIT = Duration.ofSeconds(5);

    /** What the metrics are made from; the real one is {@link #of(Sandbox, Supplier)}. */
    public interface Source {
        BootTimeline.Identity identity();

        List<BootTimeline.Phase> phases();

        Map<String, Integer> creationsByName();

        Map<String, String> containerNames();

        Map<String, AgentLatencies.Snapshot> agentLatencies();

        List<Hypervisor.OwnedProcess> hostProcesses();

        /** The ids of the pod's containers now. */
        Collection<String> liveContainers();

        /** The container's cgroup metrics in the guest. */
        Metrics containerStats(String containerId);

        /** The guest's memory, load and uptime. */
        Agent.GuestStats guestStats();
    }

    private final Source source;
    private final Path proc;

    PodMetrics(Source source, Path proc) {
        this.source = source;
        this.proc = proc;
    }

    /**
     * Serves the metrics of a pod that just started on its {@link MetricsServer} until the pod stops; a pod whose
     * socket cannot be made runs without (logged).
     */
    public static void serve(Sandbox sandbox, Supplier<Collection<String>> containerIds) {
        PodMetrics metrics = of(sandbox, containerIds);
        MetricsServer.start(sandbox.paths().dir(), metrics::render)
                .ifPresent(server -> sandbox.onStop("stop serving metrics on " + server.socket(), server::close));
    }

    /** Metrics of a live pod whose containers {@code containerIds} lists. */
    public static PodMetrics of(Sandbox sandbox, Supplier<Collection<String>> containerIds) {
        return new PodMetrics(new Source() {
            @Override
            public BootTimeline.Identity identity() {
                return sandbox.timeline().identity();
            }

            @Override
            public List<BootTimeline.Phase> phases() {
                return sandbox.timeline().phases();
            }

            @Override
            public Map<String, Integer> creationsByName() {
                return sandbox.timeline().creationsByName();
            }

            @Override
            public Map<String, String> containerNames() {
                return sandbox.timeline().containerNames();
            }

            @Override
            public Map<String, AgentLatencies.Snapshot> agentLatencies() {
                return sandbox.agent().latencies().snapshot();
            }

            @Override
            public List<Hypervisor.OwnedProcess> hostProcesses() {
                return sandbox.hostProcesses();
            }

            @Override
            public Collection<String> liveContainers() {
                return containerIds.get();
            }

            @Override
            public Metrics containerStats(String containerId) {
                return sandbox.agent().statsContainer(containerId);
            }

            @Override
            public Agent.GuestStats guestStats() {
                return sandbox.agent().guestStats();
            }
        }, Path.of("/proc"));
    }

    /** The exposition text. */
    public String render() {
        PromText.Builder b = new PromText.Builder();
        info(b);
        boot(b);
        agent(b);
        host(b);
        guest(b);
        return PromText.write(b.build());
    }

    private void info(PromText.Builder b) {
        BootTimeline.Identity id = source.identity();
        b.family("javakata_pod_info", "gauge", "The pod this shim runs: its sandbox, containerd namespace and CRI names.")
                .sample("javakata_pod_info", labels("sandbox_id", id.sandboxId(), "namespace", id.namespace(),
                        "pod_name", id.podName(), "pod_namespace", id.podNamespace(), "pod_uid", id.podUid()), 1);
    }

    private void boot(PromText.Builder b) {
        String phases = "javakata_boot_phase_seconds";
        b.family(phases, "gauge", "Seconds from the pod's shim start to each boot phase (guest_clock=\"true\": "
                + "placed from the guest's uptime).");
        for (BootTimeline.Phase p : source.phases()) {
            Map<String, String> labels = labels("phase", p.phase());
            if (!p.container().isEmpty()) {
                labels.put("container", p.container());
                labels.put("name", p.name());
            }
            if (p.guestClock()) {
                labels.put("guest_clock", "true");
            }
            b.sample(phases, labels, p.elapsedMillis() / 1000.0);
        }
        String restarts = "javakata_container_restarts_total";
        b.family(restarts, "counter", "Containers of the same CRI name created again in this pod (kubelet restarts).");
        source.creationsByName().forEach((name, n) -> b.sample(restarts, labels("name", name), n - 1));
    }

    private void agent(PromText.Builder b) {
        String duration = "javakata_agent_request_duration_seconds";
        String failures = "javakata_agent_request_failures_total";
        b.family(duration, "histogram", "How long the guest agent took to answer, by RPC (long polls left out).");
        b.family(failures, "counter", "Agent requests that failed, by RPC and status code.");
        source.agentLatencies().forEach((method, s) -> {
            for (int i = 0; i < AgentLatencies.BUCKETS.size(); i++) {
                b.sample(duration, duration + "_bucket", labels("method", method, "le",
                        PromText.number(AgentLatencies.BUCKETS.get(i))), s.buckets().get(i));
            }
            b.sample(duration, duration + "_bucket", labels("method", method, "le", "+Inf"), s.count());
            b.sample(duration, duration + "_sum", labels("method", method), s.sumSeconds());
            b.sample(duration, duration + "_count", labels("method", method), s.count());
            s.failures().forEach((code, n) -> b.sample(failures, labels("method", method, "code", code), n));
        });
    }

    private void host(PromText.Builder b) {
        String cpu = "javakata_host_process_cpu_seconds_total";
        String rss = "javakata_host_process_resident_bytes";
        b.family(cpu, "counter", "CPU time of the pod's host processes: the shim, and QEMU (process=vmm) and "
                + "virtiofsd with their children.");
        b.family(rss, "gauge", "Resident memory of the pod's host processes: the shim, and QEMU (process=vmm) and "
                + "virtiofsd with their children.");
        // The shim's own JVM, without its children: they are the VM's processes, counted on their own lines.
        ProcessUsage.of(proc, ProcessHandle.current().pid()).ifPresent(shim -> {
            b.sample(cpu, labels("process", "shim"), shim.cpuSeconds());
            b.sample(rss, labels("process", "shim"), shim.residentBytes());
        });
        b.family("javakata_vm_vcpus", "gauge", "vCPUs QEMU was started with.");
        b.family("javakata_vm_memory_bytes", "gauge", "Guest memory QEMU was started with.");
        for (Hypervisor.OwnedProcess p : source.hostProcesses()) {
            if (!Files.exists(proc.resolve(Long.toString(p.pid())))) {
                continue;
            }
            ProcessUsage usage = ProcessUsage.tree(proc, p.pid(), ProcessUsage.descendants(p.pid()));
            b.sample(cpu, labels("process", p.role()), usage.cpuSeconds());
            b.sample(rss, labels("process", p.role()), usage.residentBytes());
            if (Hypervisor.OwnedProcess.VMM.equals(p.role())) {
                vmSize(b, p.pid());
            }
        }
    }

    /** The VM's size from QEMU's own command line ({@code -smp N}, {@code -m 512M}): what it really got. */
    private void vmSize(PromText.Builder b, long pid) {
        List<String> argv;
        try {
            argv = List.of(new String(Files.readAllBytes(proc.resolve(Long.toString(pid)).resolve("cmdline")),
                    java.nio.charset.StandardCharsets.UTF_8).split("\0"));
        } catch (IOException e) {
            return;
        }
        for (int i = 0; i + 1 < argv.size(); i++) {
            String value = argv.get(i + 1).split(",")[0];
            try {
                if (argv.get(i).equals("-smp")) {
                    b.sample("javakata_vm_vcpus", Map.of(), Long.parseLong(value.replace("cpus=", "")));
                } else if (argv.get(i).equals("-m")) {
                    b.sample("javakata_vm_memory_bytes", Map.of(), QemuSizes.bytes(value.replace("size=", "")));
                }
            } catch (NumberFormatException e) {
                // a form this parser does not know: the gauge is left out
            }
        }
    }

    private void guest(PromText.Builder b) {
        CompletableFuture<Agent.GuestStats> whole = CompletableFuture.supplyAsync(source::guestStats,
                command -> Thread.ofVirtual().name("metrics-guest").start(command));
        containers(b);
        Optional<Agent.GuestStats> stats = await(whole, System.nanoTime() + STATS_WAIT.toNanos());
        String memory = "javakata_guest_memory_bytes";
        b.family(memory, "gauge", "The guest kernel's memory (/proc/meminfo): total, available, free, cached, shmem "
                + "(tmpfs, the guest's root and /dev/shm included).");
        b.family("javakata_guest_load_average", "gauge", "The guest's load averages (/proc/loadavg).");
        b.family("javakata_guest_uptime_seconds", "gauge", "Seconds since the guest kernel booted.");
        stats.ifPresent(s -> {
            b.sample(memory, labels("kind", "total"), s.memTotal());
            b.sample(memory, labels("kind", "available"), s.memAvailable());
            b.sample(memory, labels("kind", "free"), s.memFree());
            b.sample(memory, labels("kind", "cached"), s.cached());
            b.sample(memory, labels("kind", "shmem"), s.shmem());
            b.sample("javakata_guest_load_average", labels("period", "1m"), s.load1());
            b.sample("javakata_guest_load_average", labels("period", "5m"), s.load5());
            b.sample("javakata_guest_load_average", labels("period", "15m"), s.load15());
            b.sample("javakata_guest_uptime_seconds", Map.of(), s.uptimeSeconds());
        });
    }

    private void containers(PromText.Builder b) {
        String memory = "javakata_guest_container_memory_bytes";
        String cpu = "javakata_guest_container_cpu_seconds_total";
        b.family(memory, "gauge", "Memory a container uses inside the guest (its cgroup's memory.current).");
        b.family(cpu, "counter", "CPU time of a container inside the guest (its cgroup's cpu.stat usage_usec).");
        Map<String, String> names = source.containerNames();
        Map<String, CompletableFuture<Metrics>> asked = new LinkedHashMap<>();
        for (String id : source.liveContainers()) {
            asked.put(id, CompletableFuture.supplyAsync(() -> source.containerStats(id),
                    command -> Thread.ofVirtual().name("metrics-stats-" + id).start(command)));
        }
        long deadline = System.nanoTime() + STATS_WAIT.toNanos();
        List<String> unanswered = new ArrayList<>();
        asked.forEach((id, future) -> {
            Optional<Metrics> m = await(future, deadline);
            if (m.isEmpty()) {
                unanswered.add(id);
                return;
            }
            Map<String, String> labels = labels("container", id, "name", names.getOrDefault(id, ""));
            b.sample(memory, labels, m.get().getMemory().getUsage());
            b.sample(cpu, labels, m.get().getCpu().getUsageUsec() / 1e6);
        });
        b.family("javakata_guest_stats_unanswered", "gauge", "Containers whose stats the agent did not give this scrape.")
                .sample("javakata_guest_stats_unanswered", Map.of(), unanswered.size());
    }

    private static <T> Optional<T> await(CompletableFuture<T> future, long deadline) {
        try {
            return Optional.of(future.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            return Optional.empty();
        }
    }

    private static Map<String, String> labels(String... pairs) {
        Map<String, String> labels = new LinkedHashMap<>();
        for (int i = 0; i < pairs.length; i += 2) {
            labels.put(pairs[i], pairs[i + 1]);
        }
        return labels;
    }
}
