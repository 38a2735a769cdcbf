package io.javakata.shim.sandbox;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.Timestamp;
import io.containerd.task.v2.DeleteResponse;
import io.javakata.shim.config.ShimContext;
import io.javakata.shim.network.CommandRunner;
import io.javakata.shim.network.PodNetwork;
import io.javakata.shim.rootfs.Mounter;
import io.javakata.sys.ErrnoException;
import io.javakata.sys.Signals;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The shim's {@code delete} action (docs/protocol-facts.md §2.4). containerd runs it after every task's
 * connection closes, normally after the shim already cleaned up, and also when a shim died. So it
 * must be idempotent, finish well within containerd's 5 s, and never disturb a live pod shim's
 * other tasks:
 * <ul>
 *   <li>this task's rootfs mount and {@code mounts/<task>} are always removed;</li>
 *   <li>only if the shim recorded in sandbox.json is gone: the VM's processes (QEMU, virtiofsd) are
 *       killed, the pod sandbox task's network namespace loses the taps and tc mirrors javakata
 *       added (PodNetwork.removeLeftovers), its host cgroup (linux.cgroupsPath, {@link HostCgroup}) is
 *       removed, and once no task remains under mounts/, the share's mounts
 *       and the state directory go.</li>
 * </ul>
 */
public final class SandboxCleaner {

    private static final System.Logger LOG = System.getLogger(SandboxCleaner.class.getName());
    private static final String SANDBOX_ID_ANNOTATION = "io.kubernetes.cri.sandbox-id";
    private static final int SIGKILL_STATUS = 128 + Signals.SIGKILL;
    private static final Duration KILL_WAIT = Duration.ofSeconds(2);

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
            Mounter.deleteTree(paths.containerDir(taskId));
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "delete " + taskId + ": " + e.getMessage());
        }
        if (state != null && !HostProcesses.isAlive(state.shimPid(), state.shimStartTime())) {
            killVm(state, paths);
            if (taskId.equals(sandboxId)) {
                podNetnsOf(bundle).ifPresent(netns -> PodNetwork.removeLeftovers(netns, CommandRunner.host()));
                hostCgroupOf(bundle).ifPresent(path -> HostCgroup.removeLeftover(HostCgroup.ROOT, path));
            }
            removeSandboxIfEmpty(paths);
        }
        Instant now = Instant.now();
        return DeleteResponse.newBuilder()
                .setPid(state == null ? 0 : (int) state.vmmPid())
                .setExitStatus(SIGKILL_STATUS)
                .setExitedAt(Timestamp.newBuilder().setSeconds(now.getEpochSecond()).setNanos(now.getNano()))
                .build();
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

    /** The network namespace path in the sandbox task's spec, if it names an existing one. */
    static Optional<Path> podNetnsOf(Path bundle) {
        if (bundle == null) {
            return Optional.empty();
        }
        try {
            JsonNode spec = new ObjectMapper().readTree(bundle.resolve("config.json").toFile());
            if (!(spec instanceof ObjectNode object)) {
                return Optional.empty();
            }
            return PodNetwork.netnsOf(object).filter(Files::exists);
        } catch (IOException | RuntimeException e) {
            // no spec, or no network namespace in it (host network): nothing of ours to remove
            return Optional.empty();
        }
    }

    /** The sandbox's host cgroup path (its spec's linux.cgroupsPath), if the spec names a usable one. */
    static Optional<String> hostCgroupOf(Path bundle) {
        if (bundle == null) {
            return Optional.empty();
        }
        try {
            return HostCgroup.pathOf(new ObjectMapper().readTree(bundle.resolve("config.json").toFile()));
        } catch (IOException | RuntimeException e) {
            // no spec, or an unusable path: the shim never created a cgroup for it
            return Optional.empty();
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

    /** SIGKILLs the recorded VMM (if it is still the same process) and anything serving this sandbox dir. */
    private static void killVm(SandboxState state, SandboxPaths paths) {
        List<Long> victims = new ArrayList<>(HostProcesses.withArgumentContaining(paths.dir().toString()));
        if (HostProcesses.isAlive(state.vmmPid(), state.vmmStartTime()) && !victims.contains(state.vmmPid())) {
            victims.add(state.vmmPid());
        }
        for (long pid : victims) {
            try {
                Signals.kill((int) pid, Signals.SIGKILL);
                LOG.log(System.Logger.Level.INFO, "killed pid {0} of sandbox {1} (its shim is gone)", pid,
                        state.sandboxId());
            } catch (ErrnoException e) {
                LOG.log(System.Logger.Level.DEBUG, "kill " + pid + ": " + e.getMessage());
            }
        }
        Instant deadline = Instant.now().plus(KILL_WAIT);
        for (long pid : victims) {
            ProcessHandle.of(pid).ifPresent(handle -> {
                try {
                    handle.onExit().get(Math.max(1, Duration.between(Instant.now(), deadline).toMillis()),
                            java.util.concurrent.TimeUnit.MILLISECONDS);
                } catch (Exception e) {
                    LOG.log(System.Logger.Level.WARNING, "pid " + pid + " still alive after SIGKILL");
                }
            });
        }
    }

    private static void removeSandboxIfEmpty(SandboxPaths paths) {
        try {
            if (Files.isDirectory(paths.mounts())) {
                try (Stream<Path> children = Files.list(paths.mounts())) {
                    if (children.findAny().isPresent()) {
                        return;
                    }
                }
            }
            Sandbox.unmountShared(paths);
            Mounter.deleteTree(paths.dir());
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "cleanup of " + paths.dir() + ": " + e.getMessage());
        }
    }
}
