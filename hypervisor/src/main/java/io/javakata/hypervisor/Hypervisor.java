package io.javakata.hypervisor;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * One virtual machine managed through its VMM's control API (QMP for QEMU, REST for Cloud
 * Hypervisor). A driver knows nothing of containers, ttrpc or containerd: it turns a validated
 * {@link VmSpec} into a running VMM process and says how to reach the agent inside.
 *
 * <p>Lifecycle: {@link #start()} once, then {@link #stop(Duration)} (idempotent), then
 * {@link #close()}. Thread-safety: all methods may be called from any thread. {@link #start()}
 * blocks until the VMM's control socket answers (bounded by the spec's boot timeout), or throws
 * after killing whatever it launched, so a failed start leaves no process behind.
 */
public interface Hypervisor extends AutoCloseable {

    /** Launches the VMM and the guest. Throws with the VMM's own error text on failure. */
    default void start() throws IOException {
        start(process -> { });
    }

    /**
     * As {@link #start()}, calling {@code launched} with each host process right after it was spawned,
     * before the driver waits on it, so a caller can journal the process before anything can fail.
     */
    void start(java.util.function.Consumer<OwnedProcess> launched) throws IOException;

    /** How the shim reaches the agent in this VM; valid after {@link #start()}. */
    AgentEndpoint agentEndpoint();

    /**
     * Returns once the host may open {@link #agentEndpoint()} without harm to the VM; at once where any moment is
     * safe, which is every channel but QEMU's hybrid vsock (see {@code VsockDeviceStart}). Call it after
     * {@link #start()}, before the first connection.
     *
     * @param giveUp completed when the VM can no longer answer; the wait then ends at once
     * @throws IOException when the channel is not safe to open within {@code timeout}, or {@code giveUp} completes
     */
    default void awaitAgentChannel(Duration timeout, CompletableFuture<?> giveUp) throws IOException {
    }

    /** The VMM's host pid; valid after {@link #start()}. */
    long pid();

    /**
     * How long the VMM's threads have run and waited for a CPU so far ({@link SchedStat}), which tells a guest the
     * host starves of CPU from one that stopped; empty when unknown (not started, gone, no statistics).
     */
    default java.util.Optional<SchedStat> vmmSchedStat() {
        long pid;
        try {
            pid = pid();
        } catch (RuntimeException notStarted) {
            return java.util.Optional.empty();
        }
        return pid > 0 ? SchedStat.ofProcess(pid) : java.util.Optional.empty();
    }

    /**
     * A host process this VM owns: the VMM ({@link #VMM}) or a backend serving the guest
     * (virtiofsd). The pod's journal records them, so a dead shim's {@code delete} finds them
     * without scanning other processes.
     */
    record OwnedProcess(String role, long pid) {
        public static final String VMM = "vmm";
    }

    /**
     * The host processes this VM launched, VMM first, including any that have already exited;
     * empty before {@link #start()}.
     */
    java.util.List<OwnedProcess> processes();

    /**
     * Completes, with a sentence naming the process and how it ended, when a process the guest
     * depends on other than the VMM exits while the VM runs (virtiofsd: the guest's files are gone).
     * Never completes for an orderly {@link #stop(Duration)}.
     */
    CompletableFuture<String> onBackendExit();

    /** Which accelerator the VM actually runs on, and why it was chosen. */
    Accelerator.Choice accelerator();

    /** Completes with the VMM's exit code when its process ends, for whatever reason. */
    CompletableFuture<Integer> onExit();

    /**
     * Stops the VM: asks the VMM to quit, waits up to {@code grace}, then kills it. Idempotent;
     * returns once the process is gone. Never throws for a VM that is already gone.
     */
    void stop(Duration grace);

    /** Same as {@code stop(Duration.ofSeconds(2))}. */
    @Override
    void close();

    /**
     * Whether this running VM can be taken by a pod after its start ({@link #relocate}, {@link #plugNics}): a VM
     * restored from a template, which runs in a network namespace of its own and has a root port free for a NIC.
     */
    default boolean adoptable() {
        return false;
    }

    /**
     * The VM's state directory was renamed to {@code stateDir} on the same filesystem (its sockets and open files
     * went with it): the driver's paths from now on. For a spare VM a pod takes (docs/architecture.md, "Warm spare
     * VMs").
     *
     * @throws UnsupportedOperationException unless {@link #adoptable}
     */
    default void relocate(java.nio.file.Path stateDir) {
        throw new UnsupportedOperationException("this VM cannot be relocated");
    }

    /**
     * Hot-plugs {@code nics} into the running guest: each tap, opened in {@code netns} (the host's when null), handed
     * to the VMM, then its device on a free root port. For a spare VM a pod takes.
     *
     * @throws UnsupportedOperationException unless {@link #adoptable}
     */
    default void plugNics(java.util.List<VmSpec.Nic> nics, java.nio.file.Path netns) throws IOException {
        throw new UnsupportedOperationException("this VM cannot take NICs while it runs");
    }
}
