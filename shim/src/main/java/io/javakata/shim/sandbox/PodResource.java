package io.javakata.shim.sandbox;

import io.javakata.sys.Mounts;
import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import io.javakata.shim.network.CommandRunner;
import io.javakata.shim.network.PodNetwork;
import io.javakata.shim.rootfs.Mounter;
import io.javakata.sys.ErrnoException;
import io.javakata.sys.Signals;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * One thing a pod holds on the host, as its journal (sandbox.json, {@link SandboxState}) records it:
 * written <em>before</em> the resource is made, so that whatever exists is named there even if the
 * shim dies the next instant. A pod's resources are made in the order of this list and undone in the
 * reverse order, by one {@link CleanupStack}: a failed create unwinds what it made, {@link Sandbox#stop()}
 * unwinds the live pod, and containerd's {@code delete} after a dead shim builds the stack from the
 * journal alone ({@link #cleanUp}).
 * <ol>
 *   <li>{@link StateDir}: the sandbox's state directory with the share (mounts/ and its read-only view);</li>
 *   <li>{@link Network}: javakata's taps and tc mirrors in the pod's network namespace;</li>
 *   <li>{@link Cgroup}: the pod's host cgroup, which QEMU and virtiofsd join before they exec;</li>
 *   <li>{@link Vm}: the VM's host processes (QEMU, virtiofsd), each with its start time;</li>
 *   <li>{@link PortForwarding}: listeners in the pod's netns.</li>
 * </ol>
 */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "kind")
@JsonSubTypes({
        @JsonSubTypes.Type(value = PodResource.StateDir.class, name = "state-dir"),
        @JsonSubTypes.Type(value = PodResource.Network.class, name = "network"),
        @JsonSubTypes.Type(value = PodResource.Cgroup.class, name = "cgroup"),
        @JsonSubTypes.Type(value = PodResource.SpareCgroup.class, name = "spare-cgroup"),
        @JsonSubTypes.Type(value = PodResource.Vm.class, name = "vm"),
        @JsonSubTypes.Type(value = PodResource.PortForwarding.class, name = "port-forwarding")})
public sealed interface PodResource {

    /** How long a dead shim's VM processes get to disappear after SIGKILL. */
    Duration KILL_WAIT = Duration.ofSeconds(2);

    /**
     * Removes the resource using only what the journal says, for a shim that is gone. Idempotent:
     * a resource that is already gone (or never got made) is fine. Failures are logged by the stack.
     */
    void cleanUp(SandboxPaths paths) throws Exception;

    /** What a log line calls it. */
    String describe();

    /** The state directory: mounts/ (a shared bind), shared/ (its read-only view), the console, sockets and the journal. */
    record StateDir() implements PodResource {
        @Override
        public void cleanUp(SandboxPaths paths) throws IOException {
            Sandbox.unmountShared(paths);
            Mounts.deleteTree(paths.dir());
        }

        @Override
        public String describe() {
            return "state directory and share";
        }
    }

    /** javakata's devices in the pod network namespace {@code netns} (the namespace itself is CNI's). */
    record Network(String netns) implements PodResource {
        public Network {
            Objects.requireNonNull(netns, "netns");
        }

        /** Nothing in the host's own namespace is ever touched (a spec naming it was refused before any tap). */
        @Override
        public void cleanUp(SandboxPaths paths) throws IOException {
            Path path = Path.of(netns);
            if (Files.exists(path) && !Files.isSameFile(path, Path.of("/proc/self/ns/net"))) {
                PodNetwork.removeLeftovers(path, CommandRunner.host());
            }
        }

        @Override
        public String describe() {
            return "taps and tc mirrors in " + netns;
        }
    }

    /** The pod's host cgroup at {@code path} (a cgroupfs path), in every hierarchy. */
    record Cgroup(String path) implements PodResource {
        public Cgroup {
            Objects.requireNonNull(path, "path");
        }

        @Override
        public void cleanUp(SandboxPaths paths) {
            HostCgroup.killAndRemoveLeftover(HostCgroup.ROOT, path);
        }

        @Override
        public String describe() {
            return "host cgroup " + path;
        }
    }

    /**
     * The host cgroup a spare VM ran in before a pod took it ({@code SpareVms}): its processes moved to the pod's
     * {@link Cgroup}, whatever a shim killed meanwhile left there is killed, and the directory removed.
     */
    record SpareCgroup(String path) implements PodResource {
        public SpareCgroup {
            Objects.requireNonNull(path, "path");
        }

        @Override
        public void cleanUp(SandboxPaths paths) {
            HostCgroup.killAndRemoveLeftover(HostCgroup.ROOT, path);
        }

        @Override
        public String describe() {
            return "spare VM's host cgroup " + path;
        }
    }

    /** A host process of the VM: its role ("vmm", "virtiofsd"), pid and start time (against pid reuse). */
    record HostProcess(String role, long pid, long startTime) {
    }

    /** The VM's host processes, as each was launched. */
    record Vm(List<HostProcess> processes) implements PodResource {
        public Vm {
            processes = processes == null ? List.of() : List.copyOf(processes);
        }

        /** This record with {@code process} added. */
        public Vm with(HostProcess process) {
            return new Vm(java.util.stream.Stream.concat(processes.stream(), java.util.stream.Stream.of(process)).toList());
        }

        /** The VMM's pid, 0 if it was never launched. */
        public long vmmPid() {
            return processes.stream().filter(p -> p.role().equals(io.javakata.hypervisor.Hypervisor.OwnedProcess.VMM))
                    .mapToLong(HostProcess::pid).findFirst().orElse(0);
        }

        /** SIGKILLs every recorded process that still runs (same pid and start time) and waits, bounded. */
        @Override
        public void cleanUp(SandboxPaths paths) {
            long deadline = System.nanoTime() + KILL_WAIT.toNanos();
            for (HostProcess process : processes) {
                if (HostProcesses.isAlive(process.pid(), process.startTime())) {
                    try {
                        Signals.kill((int) process.pid(), Signals.SIGKILL);
                    } catch (ErrnoException e) {
                        continue; // exited meanwhile
                    }
                    System.getLogger(PodResource.class.getName()).log(System.Logger.Level.INFO,
                            "killed {0} pid {1} of {2} (its shim is gone)", process.role(), process.pid(), paths.dir());
                }
            }
            for (HostProcess process : processes) {
                while (HostProcesses.isAlive(process.pid(), process.startTime()) && System.nanoTime() < deadline) {
                    ProcessHandle.of(process.pid()).ifPresent(handle -> io.javakata.hypervisor.ChildProcesses.awaitExit(
                            handle, Duration.ofMillis(50)));
                }
            }
        }

        @Override
        public String describe() {
            return "VM processes " + processes;
        }
    }

    /**
     * Port forwarding: listeners the shim opened in the pod netns and relays through the agent. They
     * are the shim's own sockets, so nothing of them survives the shim and there is nothing to clean up.
     */
    record PortForwarding() implements PodResource {
        @Override
        public void cleanUp(SandboxPaths paths) {
            // the shim's sockets closed when it died
        }

        @Override
        public String describe() {
            return "port forwarding";
        }
    }
}
