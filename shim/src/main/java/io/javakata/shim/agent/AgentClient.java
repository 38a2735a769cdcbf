package io.javakata.shim.agent;

import com.google.protobuf.ByteString;
import com.google.protobuf.Empty;
import com.google.protobuf.Message;
import com.google.protobuf.Parser;
import io.javakata.agent.v1.CheckRequest;
import io.javakata.agent.v1.CheckResponse;
import io.javakata.agent.v1.CloseStdinRequest;
import io.javakata.agent.v1.CreateContainerRequest;
import io.javakata.agent.v1.CreateContainerResponse;
import io.javakata.agent.v1.ContainerRequest;
import io.javakata.agent.v1.ExecProcessRequest;
import io.javakata.agent.v1.GetOOMEventResponse;
import io.javakata.agent.v1.ListProcessesResponse;
import io.javakata.agent.v1.RemoveProcessRequest;
import io.javakata.agent.v1.ResizePtyRequest;
import io.javakata.agent.v1.StatsContainerResponse;
import io.javakata.agent.v1.UpdateContainerRequest;
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
import io.javakata.ttrpc.TtrpcClient;
import java.time.Duration;
import java.util.Objects;

/**
 * The shim's view of the guest agent ({@code javakata.agent.v1.Agent}): one typed method per RPC.
 *
 * <p>Thread-safety: every method may be called from any thread; calls run concurrently on the one
 * ttrpc connection. Calls that should answer at once carry the configured request timeout; the
 * calls that block by design ({@link #waitProcess}, {@link #readStdout}, {@link #readStderr},
 * {@link #getOOMEvent}, {@link #writeStdin}, which the guest answers only when its pipe has room) carry none. A non-OK
 * answer arrives as {@link io.javakata.ttrpc.RuntimeStatusException} with the agent's code; a lost
 * connection as UNAVAILABLE.
 */
public final class AgentClient implements AutoCloseable {

    public static final String SERVICE = "javakata.agent.v1.Agent";

    private final TtrpcClient client;
    private final Duration requestTimeout;

    public AgentClient(TtrpcClient client, Duration requestTimeout) {
        this.client = Objects.requireNonNull(client, "client");
        this.requestTimeout = Objects.requireNonNull(requestTimeout, "requestTimeout");
    }

    /** Liveness and version check; {@code timeout} is given because the first one waits for boot. */
    public CheckResponse check(Duration timeout) {
        return call("Check", CheckRequest.getDefaultInstance(), CheckResponse.parser(), timeout);
    }

    public CreateContainerResponse createContainer(CreateContainerRequest request) {
        return call("CreateContainer", request, CreateContainerResponse.parser(), requestTimeout);
    }

    public StartContainerResponse startContainer(String containerId) {
        return startContainer(containerId, "");
    }

    /** Starts the init ({@code execId} "") or an exec added by {@link #execProcess}. */
    public StartContainerResponse startContainer(String containerId, String execId) {
        return call("StartContainer", StartContainerRequest.newBuilder().setContainerId(containerId)
                .setExecId(execId).build(), StartContainerResponse.parser(), requestTimeout);
    }

    /** Registers an exec in the guest; nothing runs until {@link #startContainer(String, String)}. */
    public void execProcess(ExecProcessRequest request) {
        call("ExecProcess", request, Empty.parser(), requestTimeout);
    }

    /** Forgets an exited or never-started exec in the guest. */
    public void removeProcess(String containerId, String execId) {
        call("RemoveProcess", RemoveProcessRequest.newBuilder().setContainerId(containerId).setExecId(execId)
                .build(), Empty.parser(), requestTimeout);
    }

    public void resizePty(String containerId, String execId, int width, int height) {
        call("ResizePty", ResizePtyRequest.newBuilder().setContainerId(containerId).setExecId(execId)
                .setWidth(width).setHeight(height).build(), Empty.parser(), requestTimeout);
    }

    public void pauseContainer(String containerId) {
        call("PauseContainer", container(containerId), Empty.parser(), requestTimeout);
    }

    public void resumeContainer(String containerId) {
        call("ResumeContainer", container(containerId), Empty.parser(), requestTimeout);
    }

    /** Applies OCI LinuxResources (JSON) to the container's cgroup. */
    public void updateContainer(String containerId, ByteString resourcesJson) {
        call("UpdateContainer", UpdateContainerRequest.newBuilder().setContainerId(containerId)
                .setResources(resourcesJson).build(), Empty.parser(), requestTimeout);
    }

    public StatsContainerResponse statsContainer(String containerId) {
        return call("StatsContainer", container(containerId), StatsContainerResponse.parser(), requestTimeout);
    }

    public ListProcessesResponse listProcesses(String containerId) {
        return call("ListProcesses", container(containerId), ListProcessesResponse.parser(), requestTimeout);
    }

    /** Blocks, with no timeout, until the guest kernel OOM-kills a process of some container. */
    public GetOOMEventResponse getOOMEvent() {
        return call("GetOOMEvent", Empty.getDefaultInstance(), GetOOMEventResponse.parser(), null);
    }

    private static ContainerRequest container(String containerId) {
        return ContainerRequest.newBuilder().setContainerId(containerId).build();
    }

    /** Blocks, with no timeout, until the process has exited and its output pipes reached EOF. */
    public WaitProcessResponse waitProcess(String containerId, String execId) {
        return call("WaitProcess", WaitProcessRequest.newBuilder().setContainerId(containerId).setExecId(execId)
                .build(), WaitProcessResponse.parser(), null);
    }

    public void signalProcess(String containerId, String execId, int signal, boolean all) {
        call("SignalProcess", SignalProcessRequest.newBuilder().setContainerId(containerId).setExecId(execId)
                .setSignal(signal).setAll(all).build(), Empty.parser(), requestTimeout);
    }

    /** Writes to the process's stdin; may write fewer bytes than given (see the returned count). */
    public int writeStdin(String containerId, String execId, ByteString data) {
        WriteStreamResponse response = call("WriteStdin", WriteStreamRequest.newBuilder()
                .setContainerId(containerId).setExecId(execId).setData(data).build(),
                WriteStreamResponse.parser(), null);
        return response.getLen();
    }

    public void closeStdin(String containerId, String execId) {
        call("CloseStdin", CloseStdinRequest.newBuilder().setContainerId(containerId).setExecId(execId).build(),
                Empty.parser(), requestTimeout);
    }

    /** Blocks, with no timeout, until output is available or the stream ended. */
    public ReadStreamResponse readStdout(String containerId, String execId, int maxLen) {
        return call("ReadStdout", readRequest(containerId, execId, maxLen), ReadStreamResponse.parser(), null);
    }

    /** Blocks, with no timeout, until output is available or the stream ended. */
    public ReadStreamResponse readStderr(String containerId, String execId, int maxLen) {
        return call("ReadStderr", readRequest(containerId, execId, maxLen), ReadStreamResponse.parser(), null);
    }

    public void removeContainer(String containerId) {
        call("RemoveContainer", RemoveContainerRequest.newBuilder().setContainerId(containerId).build(),
                Empty.parser(), requestTimeout);
    }

    public boolean isClosed() {
        return client.isClosed();
    }

    /** Closes the connection; calls in flight fail with UNAVAILABLE. */
    @Override
    public void close() {
        client.close();
    }

    private static ReadStreamRequest readRequest(String containerId, String execId, int maxLen) {
        return ReadStreamRequest.newBuilder().setContainerId(containerId).setExecId(execId).setMaxLen(maxLen).build();
    }

    private <R extends Message> R call(String method, Message request, Parser<R> parser, Duration timeout) {
        return client.call(SERVICE, method, request, parser, timeout);
    }
}
