package io.javakata.shim.metrics;

import io.containerd.cgroups.v2.CPUStat;
import io.containerd.cgroups.v2.MemoryStat;
import io.containerd.cgroups.v2.Metrics;
import io.javakata.shim.agent.Agent;
import io.javakata.hypervisor.Hypervisor;
import io.javakata.shim.agent.AgentLatencies;
import io.javakata.shim.sandbox.BootTimeline;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.Errors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(20)
class PodMetricsTest {

    @TempDir
    Path proc;

    /** An agent from before GuestStats answers UNIMPLEMENTED. */
    private boolean oldAgent;

    /** A pod with two containers (one whose stats fail), a QEMU and a virtiofsd with fake /proc entries. */
    private PodMetrics pod() throws Exception {
        writeProc(1001, "qemu-system-x86", 250, 150, 300_000, String.join("\u0000", "/usr/bin/qemu-system-x86_64",
                "-m", "512M", "-smp", "2", "-accel", "tcg", ""));
        writeProc(1002, "virtiofsd", 10, 5, 4_000, "/usr/lib/qemu/virtiofsd\u0000");
        writeProc(ProcessHandle.current().pid(), "java", 100, 50, 90_000, "java\u0000");
        AgentLatencies latencies = new AgentLatencies();
        latencies.record("CreateContainer", 40_000_000, Code.OK);
        latencies.record("Check", 2_000_000, Code.UNAVAILABLE);
        PodMetrics.Source source = new PodMetrics.Source() {
            @Override
            public BootTimeline.Identity identity() {
                return new BootTimeline.Identity("sb1", "k8s.io", "web-0", "shop", "u1");
            }

            @Override
            public List<BootTimeline.Phase> phases() {
                return List.of(new BootTimeline.Phase("vmm_spawned", "", "", 900, false),
                        new BootTimeline.Phase("init_started", "", "", 4149, true),
                        new BootTimeline.Phase("container_started", "c1", "app", 12_250, false));
            }

            @Override
            public Map<String, Integer> creationsByName() {
                return Map.of("app", 3);
            }

            @Override
            public Map<String, String> containerNames() {
                return Map.of("c1", "app", "sb1", "");
            }

            @Override
            public Map<String, AgentLatencies.Snapshot> agentLatencies() {
                return latencies.snapshot();
            }

            @Override
            public List<Hypervisor.OwnedProcess> hostProcesses() {
                return List.of(new Hypervisor.OwnedProcess("vmm", 1001), new Hypervisor.OwnedProcess("virtiofsd", 1002),
                        new Hypervisor.OwnedProcess("gone", 1003));
            }

            @Override
            public Collection<String> liveContainers() {
                return List.of("sb1", "c1");
            }

            @Override
            public Metrics containerStats(String containerId) {
                if (containerId.equals("sb1")) {
                    throw Errors.unavailable("agent gone");
                }
                return Metrics.newBuilder().setMemory(MemoryStat.newBuilder().setUsage(48 << 20))
                        .setCpu(CPUStat.newBuilder().setUsageUsec(1_500_000)).build();
            }

            @Override
            public Agent.GuestStats guestStats() {
                if (oldAgent) {
                    throw Errors.unimplemented("GuestStats");
                }
                return new Agent.GuestStats(482628L * 1024, 395168L * 1024, 301020L * 1024, 130020L * 1024,
                        88496L * 1024, 0.52, 0.17, 0.06, 31.47);
            }
        };
        return new PodMetrics(source, proc);
    }

    private void writeProc(long pid, String comm, long utime, long stime, long rssKb, String cmdline) throws Exception {
        Path dir = Files.createDirectories(proc.resolve(Long.toString(pid)));
        // Fields 3 .. 15 after "(comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime.
        Files.writeString(dir.resolve("stat"), pid + " (" + comm + ") S 1 1 1 0 -1 0 0 0 0 0 " + utime + " " + stime
                + " 0 0 20 0 1 0 100 0 0\n");
        Files.writeString(dir.resolve("status"), "Name:\t" + comm + "\nVmRSS:\t  " + rssKb + " kB\n");
        Files.writeString(dir.resolve("cmdline"), cmdline);
    }

    @Test
    void rendersIdentityBootAgentHostAndGuestFamilies() throws Exception {
        String text = pod().render();
        for (String line : List.of(
                "javakata_pod_info{sandbox_id=\"sb1\",namespace=\"k8s.io\",pod_name=\"web-0\",pod_namespace=\"shop\","
                        + "pod_uid=\"u1\"} 1",
                "javakata_boot_phase_seconds{phase=\"vmm_spawned\"} 0.9",
                "javakata_boot_phase_seconds{phase=\"init_started\",guest_clock=\"true\"} 4.149",
                "javakata_boot_phase_seconds{phase=\"container_started\",container=\"c1\",name=\"app\"} 12.25",
                "javakata_container_restarts_total{name=\"app\"} 2",
                "# TYPE javakata_agent_request_duration_seconds histogram",
                "javakata_agent_request_duration_seconds_bucket{method=\"CreateContainer\",le=\"0.025\"} 0",
                "javakata_agent_request_duration_seconds_bucket{method=\"CreateContainer\",le=\"0.05\"} 1",
                "javakata_agent_request_duration_seconds_bucket{method=\"CreateContainer\",le=\"+Inf\"} 1",
                "javakata_agent_request_duration_seconds_count{method=\"Check\"} 1",
                "javakata_agent_request_failures_total{method=\"Check\",code=\"UNAVAILABLE\"} 1",
                "javakata_host_process_cpu_seconds_total{process=\"shim\"} 1.5",
                "javakata_host_process_resident_bytes{process=\"shim\"} 92160000",
                "javakata_host_process_cpu_seconds_total{process=\"vmm\"} 4",
                "javakata_host_process_resident_bytes{process=\"vmm\"} 307200000",
                "javakata_host_process_cpu_seconds_total{process=\"virtiofsd\"} 0.15",
                "javakata_vm_vcpus 2",
                "javakata_vm_memory_bytes 536870912",
                "javakata_guest_container_memory_bytes{container=\"c1\",name=\"app\"} 50331648",
                "javakata_guest_container_cpu_seconds_total{container=\"c1\",name=\"app\"} 1.5",
                "javakata_guest_stats_unanswered 1",
                "javakata_guest_memory_bytes{kind=\"total\"} 494211072",
                "javakata_guest_memory_bytes{kind=\"shmem\"} 90619904",
                "javakata_guest_load_average{period=\"1m\"} 0.52",
                "javakata_guest_load_average{period=\"15m\"} 0.06",
                "javakata_guest_uptime_seconds 31.47")) {
            assertTrue(text.contains(line + "\n"), () -> "no line " + line + " in\n" + text);
        }
        assertTrue(!text.contains("process=\"gone\""), text);
        // The exposition reads back as the node-level command reads it.
        PromText.parse(text);
    }

    @Test
    void anAgentWithoutGuestStatsLeavesTheGuestWideFamiliesOut() throws Exception {
        oldAgent = true;
        String text = pod().render();
        assertTrue(!text.contains("javakata_guest_memory_bytes") && !text.contains("javakata_guest_load_average"), text);
        assertTrue(text.contains("javakata_guest_container_memory_bytes{container=\"c1\",name=\"app\"} 50331648\n"),
                text);
    }
}
