package io.javakata.guest.rpc;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import com.google.protobuf.ByteString;
import com.google.protobuf.Empty;
import com.google.protobuf.Timestamp;

import io.javakata.agent.v1.CheckRequest;
import io.javakata.agent.v1.CheckResponse;
import io.javakata.agent.v1.CloseStdinRequest;
import io.javakata.agent.v1.CreateContainerRequest;
import io.javakata.agent.v1.CreateContainerResponse;
import io.javakata.agent.v1.ReadStreamRequest;
import io.javakata.agent.v1.ReadStreamResponse;
import io.javakata.agent.v1.RemoveContainerRequest;
import io.javakata.agent.v1.SignalProcessRequest;
import io.javakata.agent.v1.StartContainerRequest;
import io.javakata.agent.v1.StartContainerResponse;
import io.javakata.agent.v1.WaitProcessRequest;
import io.javakata.agent.v1.WaitProcessResponse;
import io.javakata.agent.v1.WriteStreamRequest;
import io.javakata.agent.v1.WriteStreamResponse;
import io.javakata.guest.container.Container;
import io.javakata.guest.container.ContainerManager;
import io.javakata.guest.reaper.ExitStatus;
import io.javakata.guest.stdio.StreamBuffer;
import io.javakata.ttrpc.Errors;
import io.javakata.ttrpc.TtrpcServer;

/**
 * {@code javakata.agent.v1.Agent}: translates the agent API to {@link ContainerManager} calls and
 * nothing else. Only the init process of a container (exec_id "") exists so far.
 *
 * <p>Handlers block (WaitProcess until the exit, Read* until data); the ttrpc server runs each
 * request on its own virtual thread.
 */
public final class AgentService {

    public static final String SERVICE = "javakata.agent.v1.Agent";
    /** Upper bound on one ReadStdout/ReadStderr answer, well under ttrpc's 4 MiB frame limit. */
    static final int MAX_READ = 1 << 20;

    private final ContainerManager containers;
    private final String version;
    private final Path procSys;

    /**
     * @param procSys {@code /proc/sys}, where the kernel release and boot id are read
     */
    public AgentService(ContainerManager containers, String version, Path procSys) {
        this.containers = containers;
        this.version = version;
        this.procSys = procSys;
    }

    public void register(TtrpcServer server) {
        server.registerUnary(SERVICE, "Check", CheckRequest.parser(), (ctx, q) -> check());
        server.registerUnary(SERVICE, "CreateContainer", CreateContainerRequest.parser(), (ctx, q) -> create(q));
        server.registerUnary(SERVICE, "StartContainer", StartContainerRequest.parser(), (ctx, q) -> start(q));
        server.registerUnary(SERVICE, "WaitProcess", WaitProcessRequest.parser(), (ctx, q) -> waitProcess(q));
        server.registerUnary(SERVICE, "SignalProcess", SignalProcessRequest.parser(), (ctx, q) -> signal(q));
        server.registerUnary(SERVICE, "WriteStdin", WriteStreamRequest.parser(), (ctx, q) -> writeStdin(q));
        server.registerUnary(SERVICE, "CloseStdin", CloseStdinRequest.parser(), (ctx, q) -> closeStdin(q));
        server.registerUnary(SERVICE, "ReadStdout", ReadStreamRequest.parser(), (ctx, q) -> read(q, true));
        server.registerUnary(SERVICE, "ReadStderr", ReadStreamRequest.parser(), (ctx, q) -> read(q, false));
        server.registerUnary(SERVICE, "RemoveContainer", RemoveContainerRequest.parser(), (ctx, q) -> remove(q));
    }

    CheckResponse check() throws IOException {
        return CheckResponse.newBuilder()
                .setVersion(version)
                .setKernelRelease(readProc("kernel/osrelease"))
                .setBootId(readProc("kernel/random/boot_id"))
                .build();
    }

    CreateContainerResponse create(CreateContainerRequest q) {
        if (q.getTerminal()) {
            throw Errors.unimplemented("terminal=true for container %s: terminals are not supported yet",
                    q.getContainerId());
        }
        Container c = containers.create(new ContainerManager.CreateRequest(q.getContainerId(),
                q.getOciSpec().toByteArray(), q.getStdin(), q.getStdout(), q.getStderr()));
        return CreateContainerResponse.newBuilder().setPid(c.initPid()).build();
    }

    StartContainerResponse start(StartContainerRequest q) {
        return StartContainerResponse.newBuilder().setPid(containers.start(q.getContainerId()).initPid()).build();
    }

    WaitProcessResponse waitProcess(WaitProcessRequest q) {
        ExitStatus status = init(q.getContainerId(), q.getExecId()).exitWithOutput().join();
        return WaitProcessResponse.newBuilder()
                .setExitStatus(status.status())
                .setExitedAt(Timestamp.newBuilder()
                        .setSeconds(status.exitedAt().getEpochSecond())
                        .setNanos(status.exitedAt().getNano()))
                .build();
    }

    Empty signal(SignalProcessRequest q) {
        init(q.getContainerId(), q.getExecId());
        containers.signal(q.getContainerId(), q.getSignal(), q.getAll());
        return Empty.getDefaultInstance();
    }

    WriteStreamResponse writeStdin(WriteStreamRequest q) {
        Container c = init(q.getContainerId(), q.getExecId());
        if (!c.stdio().stdinWanted()) {
            throw Errors.failedPrecondition("write stdin of container %s: it was created without stdin",
                    c.id());
        }
        try {
            c.stdio().writeStdin(q.getData().toByteArray());
        } catch (IOException e) {
            throw Errors.failedPrecondition("write stdin of container %s: %s", c.id(), e.getMessage());
        }
        return WriteStreamResponse.newBuilder().setLen(q.getData().size()).build();
    }

    Empty closeStdin(CloseStdinRequest q) {
        Container c = init(q.getContainerId(), q.getExecId());
        try {
            c.stdio().closeStdin();
        } catch (IOException e) {
            throw Errors.unknown("close stdin of container %s: %s", c.id(), e.getMessage());
        }
        return Empty.getDefaultInstance();
    }

    ReadStreamResponse read(ReadStreamRequest q, boolean stdout) throws InterruptedException {
        Container c = init(q.getContainerId(), q.getExecId());
        StreamBuffer buffer = stdout ? c.stdio().stdout() : c.stdio().stderr();
        if (buffer == null) {
            return ReadStreamResponse.newBuilder().setEof(true).build();
        }
        int max = q.getMaxLen() == 0 ? MAX_READ : Math.min(q.getMaxLen(), MAX_READ);
        StreamBuffer.Chunk chunk = buffer.read(max);
        return ReadStreamResponse.newBuilder().setData(ByteString.copyFrom(chunk.data())).setEof(chunk.eof()).build();
    }

    Empty remove(RemoveContainerRequest q) {
        containers.remove(q.getContainerId());
        return Empty.getDefaultInstance();
    }

    private Container init(String containerId, String execId) {
        Container c = containers.get(containerId);
        if (!execId.isEmpty()) {
            throw Errors.notFound("exec %s not found in container %s", execId, containerId);
        }
        return c;
    }

    private String readProc(String name) throws IOException {
        return Files.readString(procSys.resolve(name), StandardCharsets.US_ASCII).strip();
    }
}
