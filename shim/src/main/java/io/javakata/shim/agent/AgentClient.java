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
import io.javakata.agent.v1.GuestStatsResponse;
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
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;
import io.javakata.ttrpc.TtrpcClient;
import java.time.Duration;
import java.util.Objects;

/**
 * The shim's view of the guest agent ({@code javakata.agent.v1.Agent}): one typed method per RPC.
 *
 * <p>Thread-safety: every method may be called from any thread; calls run concurrently on the one
 * ttrpc connection. Calls that should answer at once carry the configured request timeout. The calls
 * that wait by design ({@link #waitProcess}, {@link #readStdout}, {@link #readStderr}) are long polls:
 * the guest answers "nothing yet" after {@link #LONG_POLL} at the latest, so each call carries a deadline
 * (the long poll plus the request timeout) however long a container runs, and a guest that stops
 * answering ends them with DEADLINE_EXCEEDED after {@value #MISSED_DEADLINES} missed deadlines in a row.
 * {@link #getOOMEvent} and {@link #writeStdin} (which the guest answers only when its pipe has room)
 * carry none; no exit waits on them. A non-OK answer arrives as
 * {@link io.javakata.ttrpc.RuntimeStatusException} with the agent's code; a lost connection as UNAVAILABLE.
 */
public final class AgentClient implements AutoCloseable {

    public static final String SERVICE = "javakata.agent.v1.Agent";
    /** How long the guest holds one WaitProcess or Read* call before it answers "nothing yet". */
    public static final Duration LONG_POLL = Duration.ofSeconds(10);
    /** Long polls in a row that may miss their deadline before the wait fails (a guest that stopped answering). */
    static final int MISSED_DEADLINES = 3;

    private static final System.Logger LOG = System.getLogger(AgentClient.class.getName());

    private final TtrpcClient client;
    private final Duration requestTimeout;
    private final Duration longPoll;
    private final AgentLatencies latencies = new AgentLatencies();

    public AgentClient(TtrpcClient client, Duration requestTimeout) {
        this(client, requestTimeout, LONG_POLL);
    }

    /** For tests: another long-poll duration. */
    AgentClient(TtrpcClient client, Duration requestTimeout, Duration longPoll) {
        this.client = Objects.requireNonNull(client, "client");
        this.requestTimeout = Objects.requireNonNull(requestTimeout, "requestTimeout");
        this.longPoll = Objects.requireNonNull(longPoll, "longPoll");
    }

    /** Liveness and version check; {@code timeout} is given because the first one waits for boot. */
    public CheckResponse check(Duration timeout) {
        // A Check given longer than a request may take is the wait for the guest to boot: the boot timeline times
        // that, and it would swamp the agent's answer times.
        return call("Check", CheckRequest.getDefaultInstance(), CheckResponse.parser(), timeout,
                timeout.compareTo(requestTimeout) <= 0);
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

    /** The guest's memory, load and uptime (its /proc); UNIMPLEMENTED from an agent older than the RPC. */
    public GuestStatsResponse guestStats() {
        return call("GuestStats", Empty.getDefaultInstance(), GuestStatsResponse.parser(), requestTimeout);
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

    /**
     * Blocks until the process has exited and its output was drained in the guest (bounded there), as
     * a loop of long polls: a container may run for hours, but no single call waits without a deadline.
     */
    public WaitProcessResponse waitProcess(String containerId, String execId) {
        WaitProcessRequest request = WaitProcessRequest.newBuilder().setContainerId(containerId).setExecId(execId)
                .setTimeoutMs((int) longPoll.toMillis()).build();
        while (true) {
            WaitProcessResponse response = longPoll("WaitProcess", request, WaitProcessResponse.parser());
            if (!response.getRunning()) {
                return response;
            }
        }
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

    /**
     * Blocks until output is available or the stream ended, or answers with no data (eof false) after
     * the long poll: ask again.
     */
    public ReadStreamResponse readStdout(String containerId, String execId, int maxLen) {
        return longPoll("ReadStdout", readRequest(containerId, execId, maxLen), ReadStreamResponse.parser());
    }

    /** As {@link #readStdout}, for stderr. */
    public ReadStreamResponse readStderr(String containerId, String execId, int maxLen) {
        return longPoll("ReadStderr", readRequest(containerId, execId, maxLen), ReadStreamResponse.parser());
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

    private ReadStreamRequest readRequest(String containerId, String execId, int maxLen) {
        return ReadStreamRequest.newBuilder().setContainerId(containerId).setExecId(execId).setMaxLen(maxLen)
                .setTimeoutMs((int) longPoll.toMillis()).build();
    }

    /**
     * One long-poll call (its request names {@link #longPoll} as timeout_ms) with a deadline of the long
     * poll plus the request timeout; a missed deadline is retried, up to {@value #MISSED_DEADLINES} in a
     * row, while the connection is open: a guest slowed down for a while (TCG under load) is not a lost one.
     */
    private <R extends Message> R longPoll(String method, Message request, Parser<R> parser) {
        Duration deadline = longPoll.plus(requestTimeout);
        for (int missed = 1; ; missed++) {
            try {
                return call(method, request, parser, deadline);
            } catch (RuntimeStatusException e) {
                if (e.code() != Code.DEADLINE_EXCEEDED || missed >= MISSED_DEADLINES || client.isClosed()) {
                    throw e;
                }
                LOG.log(System.Logger.Level.WARNING, "{0}: no answer within {1} ({2} of {3}); asking again",
                        method, deadline, missed, MISSED_DEADLINES);
            }
        }
    }

    private <R extends Message> R call(String method, Message request, Parser<R> parser, Duration timeout) {
        return call(method, request, parser, timeout, true);
    }

    private <R extends Message> R call(String method, Message request, Parser<R> parser, Duration timeout,
                                       boolean measured) {
        if (!measured) {
            return client.call(SERVICE, method, request, parser, timeout);
        }
        long start = System.nanoTime();
        Code code = Code.UNKNOWN;
        try {
            R response = client.call(SERVICE, method, request, parser, timeout);
            code = Code.OK;
            return response;
        } catch (RuntimeStatusException e) {
            code = e.code();
            throw e;
        } finally {
            latencies.record(method, System.nanoTime() - start, code);
        }
    }

    /** How long the agent took to answer each kind of request, for the pod's metrics. */
    public AgentLatencies latencies() {
        return latencies;
    }
}
