package io.javakata.shim.sandbox;

import io.javakata.sys.Mounts;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.protobuf.Timestamp;
import io.containerd.task.v2.DeleteResponse;
import io.javakata.shim.config.ShimContext;
import io.javakata.shim.rootfs.Mounter;
import io.javakata.sys.Signals;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;

/**
 * The shim's {@code delete} action (containerd runtime/v2/binary.go, {@code Delete}: a 5 s timeout, a raw
 * DeleteResponse on stdout; runtime/v2/shim.go). containerd runs it after every task's
 * connection closes, normally after the shim already cleaned up, and also when a shim died. So it
 * must be idempotent, finish well within containerd's 5 s, and never disturb a live pod shim's
 * other tasks:
 * <ul>
 *   <li>this task's rootfs mount and {@code mounts/<task>} are always removed;</li>
 *   <li>only if the shim recorded in the journal (sandbox.json) is gone: every resource the journal
 *       names is cleaned up from the journal alone, newest first, by one {@link CleanupStack}
 *       ({@link PodResource}): the VM's processes killed (same pid and start time), the host cgroup
 *       killed and removed, javakata's taps and tc mirrors removed from the pod netns, the share
 *       unmounted and the state directory removed. No other process is looked at.</li>
 * </ul>
 */
public final class SandboxCleaner {

    private static final System.Logger LOG = System.getLogger(SandboxCleaner.class.getName());
    private static final String SANDBOX_ID_ANNOTATION = "io.kubernetes.cri.sandbox-id";
    private static final int SIGKILL_STATUS = 128 + Signals.SIGKILL;

    private SandboxCleaner() {
    }

    /** Cleans up after task {@code taskId}; returns {pid, 137, now}, pid being the VMM's if known. */
    public static DeleteResponse cleanup(ShimContext ctx, String taskId, Path bundle) {
        io.javakata.shim.task.TaskIds.container(taskId);
        String sandboxId = io.javakata.shim.task.TaskIds.check("sandbox id", sandboxIdOf(bundle, taskId));
        SandboxPaths paths = SandboxPaths.of(ctx.config().runtime().stateDir(), ctx.namespace(), sandboxId);
        SandboxState state = readState(paths);
        try {
            Mounter.unmountUnder(paths.containerDir(taskId));
            Mounts.deleteTree(paths.containerDir(taskId));
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "delete " + taskId + ": " + e.getMessage());
        }
        if (state != null && !HostProcesses.isAlive(state.shimPid(), state.shimStartTime())) {
            LOG.log(System.Logger.Level.INFO, "sandbox {0}: shim pid {1} is gone; cleaning up {2} from its journal",
                    sandboxId, String.valueOf(state.shimPid()),
                    state.resources().stream().map(PodResource::describe).toList());
            cleanUp(state, paths);
            if (state.resources().stream().filter(PodResource.Vm.class::isInstance).map(PodResource.Vm.class::cast)
                    .flatMap(vm -> vm.processes().stream())
                    .anyMatch(p -> VmTemplates.TEMPLATE_VMM.equals(p.role()))) {
                discardAbandonedTemplateBuild(ctx, sandboxId);
            }
        }
        Instant now = Instant.now();
        return DeleteResponse.newBuilder()
                .setPid(state == null ? 0 : (int) state.vm().map(PodResource.Vm::vmmPid).orElse(0L).longValue())
                .setExitStatus(SIGKILL_STATUS)
                .setExitedAt(Timestamp.newBuilder().setSeconds(now.getEpochSecond()).setNanos(now.getNano()))
                .build();
    }

    /** Undoes every resource {@code state} names, newest first, the state directory being {@code paths}'. */
    private static void cleanUp(SandboxState state, SandboxPaths paths) {
        CleanupStack stack = new CleanupStack();
        for (PodResource resource : state.resources()) {
            stack.push(resource.describe(), () -> resource.cleanUp(paths));
        }
        stack.unwind();
    }

    /**
     * For a directory laid out as a sandbox's that no `delete` will come for (a spare VM's, {@link SpareVms}): if the
     * shim its journal names is gone, cleans up every resource the journal names; without a journal (its shim died
     * before writing one), removes the directory if {@code goneWithoutJournal}. Whether it cleaned up.
     */
    static boolean cleanUpIfShimGone(SandboxPaths paths, boolean goneWithoutJournal) {
        SandboxState state = readState(paths);
        if (state == null) {
            if (!goneWithoutJournal) {
                return false;
            }
            cleanUp(new SandboxState("", "", 0, 0, paths.dir().toString(), java.util.List.of(new PodResource.StateDir())),
                    paths);
            return true;
        }
        if (HostProcesses.isAlive(state.shimPid(), state.shimStartTime())) {
            return false;
        }
        cleanUp(state, paths);
        return true;
    }

    /**
     * The dead shim was building a VM template (its template VM is in the journal, and was just killed): the build
     * directory it left holds that VM's RAM, and would otherwise stay until the next pod of its shape.
     */
    private static void discardAbandonedTemplateBuild(ShimContext ctx, String sandboxId) {
        try {
            for (String key : io.javakata.hypervisor.qemu.TemplateStore.under(ctx.config().runtime().stateDir())
                    .discardAbandonedBuilds()) {
                LOG.log(System.Logger.Level.INFO, "sandbox {0}: removed the build of VM template {1} its shim left",
                        sandboxId, key);
            }
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "sandbox " + sandboxId + ": abandoned VM template builds: " + e);
        }
    }

    /** The pod's sandbox id from the bundle's config.json; a task without one is its own sandbox. */
    static String sandboxIdOf(Path bundle, String taskId) {
        if (bundle == null) {
            return taskId;
        }
        try {
            JsonNode spec = new ObjectMapper().readTree(bundle.resolve("config.json").toFile());
            String id = spec.path("annotations").path(SANDBOX_ID_ANNOTATION).asText("");
            return id.isEmpty() ? taskId : id;
        } catch (IOException e) {
            return taskId;
        }
    }

    private static SandboxState readState(SandboxPaths paths) {
        try {
            return Files.exists(paths.sandboxJson()) ? SandboxState.read(paths.sandboxJson()) : null;
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "unreadable " + paths.sandboxJson() + ": " + e.getMessage());
            return null;
        }
    }
}
