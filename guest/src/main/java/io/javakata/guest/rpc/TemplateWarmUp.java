package io.javakata.guest.rpc;

import io.javakata.sys.Mounts;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import com.google.protobuf.ByteString;

import io.javakata.agent.v1.CreateContainerRequest;
import io.javakata.agent.v1.ReadStreamRequest;
import io.javakata.agent.v1.ReadStreamResponse;
import io.javakata.agent.v1.RemoveContainerRequest;
import io.javakata.agent.v1.StartContainerRequest;
import io.javakata.agent.v1.WaitProcessRequest;
import io.javakata.agent.v1.WaitProcessResponse;

/**
 * What a template VM's agent does on its warm-up InitGuest, right before the shim saves it: one container through
 * this agent's own handlers (CreateContainer, StartContainer, ReadStdout to the end, WaitProcess, RemoveContainer),
 * so that each clone finds that code loaded, linked and compiled. A clone's pod then runs it warm; only the
 * guest's machine code is translated again under TCG (a clone starts with an empty translation cache).
 *
 * <p>The container is the guest's own busybox ({@code /bin}, bound read-only into an empty root) echoing a line in
 * its own PID, IPC, UTS and mount namespaces, as the OCI runtime runs a pod's containers; it is removed with its
 * bundle, cgroup and root directory before the answer, so a clone sees no trace of it. A failure is logged and
 * does not fail the InitGuest: the template is then only slower to clone.
 */
final class TemplateWarmUp {

    static final String CONTAINER_ID = "javakata-template-warm-up";
    /** Each step's bound: under TCG on a loaded host a container start takes seconds. */
    private static final int STEP_MILLIS = 60_000;
    private static final String LINE = "warm";
    private static final System.Logger LOG = System.getLogger(TemplateWarmUp.class.getName());

    private final AgentService agent;
    private final Path root;

    /** @param root an empty directory to create for the container's root (removed afterwards) */
    TemplateWarmUp(AgentService agent, Path root) {
        this.agent = agent;
        this.root = root;
    }

    /** Runs the container; true if it printed its line and exited 0. */
    boolean run() {
        long started = System.nanoTime();
        boolean created = false;
        try {
            Files.createDirectories(root);
            agent.create(CreateContainerRequest.newBuilder().setContainerId(CONTAINER_ID)
                    .setOciSpec(ByteString.copyFromUtf8(spec(root))).setStdout(true).setStderr(true).build());
            created = true;
            agent.start(StartContainerRequest.newBuilder().setContainerId(CONTAINER_ID).build());
            String out = readStdout();
            WaitProcessResponse exit = agent.waitProcess(WaitProcessRequest.newBuilder().setContainerId(CONTAINER_ID)
                    .setTimeoutMs(STEP_MILLIS).build());
            boolean ok = !exit.getRunning() && exit.getExitStatus() == 0 && out.equals(LINE + "\n");
            LOG.log(ok ? Level.INFO : Level.WARNING, "msg=\"template warm-up container ran\" ok={0} exit={1} "
                    + "stdout=\"{2}\" millis={3}", ok, exit.getRunning() ? "running" : exit.getExitStatus(),
                    out.strip(), (System.nanoTime() - started) / 1_000_000);
            return ok;
        } catch (RuntimeException | IOException e) {
            LOG.log(Level.WARNING, "msg=\"template warm-up container failed\" error=\"{0}\"", e.getMessage());
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } finally {
            if (created) {
                try {
                    agent.remove(RemoveContainerRequest.newBuilder().setContainerId(CONTAINER_ID).build());
                } catch (RuntimeException e) {
                    LOG.log(Level.WARNING, "msg=\"template warm-up container not removed\" error=\"{0}\"",
                            e.getMessage());
                }
            }
            removeRoot();
        }
    }

    private String readStdout() throws InterruptedException {
        StringBuilder out = new StringBuilder();
        long deadline = System.nanoTime() + STEP_MILLIS * 1_000_000L;
        while (System.nanoTime() < deadline) {
            ReadStreamResponse chunk = agent.read(ReadStreamRequest.newBuilder().setContainerId(CONTAINER_ID)
                    .setTimeoutMs(1000).build(), true);
            out.append(chunk.getData().toString(StandardCharsets.UTF_8));
            if (chunk.getEof()) {
                break;
            }
        }
        return out.toString();
    }

    private void removeRoot() {
        try {
            Mounts.deleteTree(root);
        } catch (IOException e) {
            LOG.log(Level.WARNING, "msg=\"remove {0}\" error=\"{1}\"", root, e.getMessage());
        }
    }

    /** The container: busybox's sh from the guest's /bin, bound read-only into the empty, read-only root. */
    static String spec(Path root) {
        return """
                {"ociVersion": "1.0.2",
                 "process": {"args": ["/bin/sh", "-c", "echo %s"], "cwd": "/", "env": ["PATH=/bin"],
                             "user": {"uid": 0, "gid": 0}, "noNewPrivileges": true,
                             "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                                              "permitted": ["CAP_KILL"]}},
                 "root": {"path": "%s", "readonly": true},
                 "hostname": "warm-up",
                 "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                             "options": ["nosuid", "strictatime", "mode=755", "size=64k"]},
                            {"destination": "/bin", "type": "bind", "source": "/bin", "options": ["rbind", "ro"]}],
                 "linux": {"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
                           "resources": {"memory": {"limit": 33554432}},
                           "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"]}}
                """.formatted(LINE, root);
    }
}
