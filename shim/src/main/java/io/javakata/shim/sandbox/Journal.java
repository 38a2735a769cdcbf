package io.javakata.shim.sandbox;

import io.javakata.hypervisor.Hypervisor;
import io.javakata.shim.config.ShimContext;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;

/**
 * The live pod's side of its journal (sandbox.json, {@link SandboxState}): each {@link #record} is on
 * disk before the method returns, so the caller makes the resource only after it is named there.
 *
 * <p>Thread-safe (synchronized): the VM driver reports processes from its own thread.
 */
final class Journal {

    private SandboxPaths paths;
    private SandboxState state;

    private Journal(SandboxPaths paths, SandboxState state) {
        this.paths = paths;
        this.state = state;
    }

    /** Writes the first journal, naming the shim and the state directory (which must exist). */
    static Journal start(ShimContext ctx, String sandboxId, SandboxPaths paths) throws IOException {
        long shim = ProcessHandle.current().pid();
        SandboxState first = new SandboxState(sandboxId, ctx.namespace(), shim, HostProcesses.startTime(shim).orElse(0),
                paths.dir().toString(), List.of(new PodResource.StateDir()));
        first.write(paths.sandboxJson());
        return new Journal(paths, first);
    }

    /**
     * A spare VM's journal becomes pod {@code sandboxId}'s: written, with the pod's id, namespace and directory, in the
     * spare's directory before the caller renames that directory to {@code to} (a dead shim's journal is cleaned up
     * from wherever it is found, spare or pod), and followed there from then on.
     */
    synchronized void retarget(String namespace, String sandboxId, SandboxPaths to) throws IOException {
        SandboxState next = new SandboxState(sandboxId, namespace, state.shimPid(), state.shimStartTime(),
                to.dir().toString(), state.resources());
        next.write(paths.sandboxJson());
        state = next;
    }

    /** The directory was renamed to {@code to}'s (after {@link #retarget}). */
    synchronized void moved(SandboxPaths to) {
        paths = to;
    }

    /** Records {@code resource} (replacing the entry of its kind), on disk when this returns. */
    synchronized void record(PodResource resource) throws IOException {
        SandboxState next = state.with(resource);
        next.write(paths.sandboxJson());
        state = next;
    }

    /**
     * Adds a process the VM driver has just launched to the VM's entry. For
     * {@link Hypervisor#start(java.util.function.Consumer)}: an I/O error is unchecked there and
     * fails the start, which then kills the process.
     */
    synchronized void launched(Hypervisor.OwnedProcess process) {
        PodResource.Vm vm = state.vm().orElseGet(() -> new PodResource.Vm(List.of()));
        long startTime = HostProcesses.startTime(process.pid()).orElse(0);
        try {
            record(vm.with(new PodResource.HostProcess(process.role(), process.pid(), startTime)));
        } catch (IOException e) {
            throw new UncheckedIOException("journal " + paths.sandboxJson() + ": " + e.getMessage(), e);
        }
    }
}
