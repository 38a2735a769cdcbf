package io.javakata.shim.agent;

import com.google.protobuf.ByteString;
import com.google.protobuf.Empty;
import com.google.protobuf.Message;
import com.google.protobuf.Parser;
import io.containerd.cgroups.v2.Metrics;
import io.javakata.agent.v1.CheckRequest;
import io.javakata.agent.v1.CheckResponse;
import io.javakata.agent.v1.CloseStdinRequest;
import io.javakata.agent.v1.ContainerRequest;
import io.javakata.agent.v1.CreateContainerResponse;
import io.javakata.agent.v1.GetOOMEventResponse;
import io.javakata.agent.v1.GuestStatsResponse;
import io.javakata.agent.v1.ListListeningPortsRequest;
import io.javakata.agent.v1.ListListeningPortsResponse;
import io.javakata.agent.v1.ListProcessesResponse;
import io.javakata.agent.v1.OpenPortForwardRequest;
import io.javakata.agent.v1.OpenPortForwardResponse;
import io.javakata.agent.v1.PortForwardCloseRequest;
import io.javakata.agent.v1.PortForwardReadRequest;
import io.javakata.agent.v1.PortForwardReadResponse;
import io.javakata.agent.v1.PortForwardWriteRequest;
import io.javakata.agent.v1.ReadStreamRequest;
import io.javakata.agent.v1.ReadStreamResponse;
import io.javakata.agent.v1.RemoveContainerRequest;
import io.javakata.agent.v1.RemoveProcessRequest;
import io.javakata.agent.v1.ResizePtyRequest;
import io.javakata.agent.v1.SignalProcessRequest;
import io.javakata.agent.v1.StartContainerRequest;
import io.javakata.agent.v1.StartContainerResponse;
import io.javakata.agent.v1.StatsContainerResponse;
import io.javakata.agent.v1.UpdateContainerRequest;
import io.javakata.agent.v1.WaitProcessRequest;
import io.javakata.agent.v1.WaitProcessResponse;
import io.javakata.agent.v1.WriteStreamRequest;
import io.javakata.agent.v1.WriteStreamResponse;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;
import io.javakata.ttrpc.TtrpcClient;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Objects;

/**
 * {@link Agent} over the pod's ttrpc connection ({@code javakata.agent.v1.Agent}); messages are built
 * and read by {@link AgentMessages}.
 *
 * <p>Calls that should answer at once carry the configured request timeout. The long polls
 * ({@link #waitProcess}, {@link #readStdout}, {@link #readStderr}) name {@link #LONG_POLL} to the guest,
 * which answers "nothing yet" after it at the latest, so each call carries a deadline (the long poll
 * plus the request timeout) however long a container runs, and a guest that stops answering ends them
 * with DEADLINE_EXCEEDED after {@value #MISSED_DEADLINES} missed deadlines in a row. The calls without a
 * timeout ({@link Agent#NO_TIMEOUT}) are those the {@link Agent} interface lists. The pod network's calls
 * are not counted in {@link #latencies()}.
 */
public final class TtrpcAgent implements Agent {

    public static final String SERVICE = "javakata.agent.v1.Agent";
    /**
     * How long the guest holds one WaitProcess or Read* call before it answers "nothing yet". An answer ends the
     * call at once when there is output or an exit, so this only sets how often an idle container's three polls wake
     * its guest (once each per poll); a guest that stops answering is the pod watchdog's to notice, within ~20 s.
     */
    public static final Duration LONG_POLL = Duration.ofSeconds(30);
    /** Long polls in a row that may miss their deadline before the wait fails (a guest that stopped answering). */
    static final int MISSED_DEADLINES = 3;

    private static final System.Logger LOG = System.getLogger(TtrpcAgent.class.getName());

    private final TtrpcClient client;
    private final Duration requestTimeout;
    private final Duration longPoll;
    private final AgentLatencies latencies = new AgentLatencies();

    public TtrpcAgent(TtrpcClient client, Duration requestTimeout) {
        this(client, requestTimeout, LONG_POLL);
    }

    /** For tests: another long-poll duration. */
    TtrpcAgent(TtrpcClient client, Duration requestTimeout, Duration longPoll) {
        this.client = Objects.requireNonNull(client, "client");
        this.requestTimeout = Objects.requireNonNull(requestTimeout, "requestTimeout");
        this.longPoll = Objects.requireNonNull(longPoll, "longPoll");
    }

    @Override
    public Info check(Duration timeout) {
        // A Check given longer than a request may take is the wait for the guest to boot: the boot timeline times
        // that, and it would swamp the agent's answer times.
        return AgentMessages.info(call("Check", CheckRequest.getDefaultInstance(), CheckResponse.parser(), timeout,
                timeout.compareTo(requestTimeout) <= 0));
    }

    @Override
    public Info awaitBoot(Duration timeout) {
        return AgentMessages.info(call("Check", CheckRequest.getDefaultInstance(), CheckResponse.parser(), timeout,
                false));
    }

    @Override
    public void initGuest(byte[] entropy, java.time.Instant now, String shareTag, Duration deviceWait) {
        call("InitGuest", initGuestRequest(entropy, now).setShareTag(shareTag)
                .setDeviceWaitMs((int) deviceWait.toMillis()).build(), Empty.parser(), deviceWait.plus(requestTimeout),
                false);
    }

    @Override
    public void warmUpInitGuest(byte[] entropy, java.time.Instant now, Duration timeout) {
        call("InitGuest", initGuestRequest(entropy, now).setTemplateWarmUp(true).build(), Empty.parser(), timeout,
                false);
    }

    /** The entropy and the host's wall-clock time every InitGuest carries. */
    private static io.javakata.agent.v1.InitGuestRequest.Builder initGuestRequest(byte[] entropy,
                                                                                 java.time.Instant now) {
        return io.javakata.agent.v1.InitGuestRequest.newBuilder()
                .setEntropy(com.google.protobuf.ByteString.copyFrom(entropy))
                .setRealtimeNanos(now.getEpochSecond() * 1_000_000_000L + now.getNano());
    }

    @Override
    public int createContainer(String containerId, byte[] ociSpec, Stdio stdio) {
        return call("CreateContainer", AgentMessages.createContainer(containerId, ociSpec, stdio),
                CreateContainerResponse.parser(), requestTimeout).getPid();
    }

    @Override
    public int startProcess(String containerId, String execId) {
        return call("StartContainer", StartContainerRequest.newBuilder().setContainerId(containerId)
                .setExecId(execId).build(), StartContainerResponse.parser(), requestTimeout).getPid();
    }

    @Override
    public void execProcess(String containerId, String execId, byte[] processJson, Stdio stdio) {
        call("ExecProcess", AgentMessages.execProcess(containerId, execId, processJson, stdio), Empty.parser(),
                requestTimeout);
    }

    @Override
    public void removeProcess(String containerId, String execId) {
        call("RemoveProcess", RemoveProcessRequest.newBuilder().setContainerId(containerId).setExecId(execId)
                .build(), Empty.parser(), requestTimeout);
    }

    @Override
    public void resizePty(String containerId, String execId, int width, int height) {
        call("ResizePty", ResizePtyRequest.newBuilder().setContainerId(containerId).setExecId(execId)
                .setWidth(width).setHeight(height).build(), Empty.parser(), requestTimeout);
    }

    @Override
    public void pauseContainer(String containerId) {
        call("PauseContainer", container(containerId), Empty.parser(), requestTimeout);
    }

    @Override
    public void resumeContainer(String containerId) {
        call("ResumeContainer", container(containerId), Empty.parser(), requestTimeout);
    }

    @Override
    public void updateContainer(String containerId, byte[] resourcesJson) {
        call("UpdateContainer", UpdateContainerRequest.newBuilder().setContainerId(containerId)
                .setResources(ByteString.copyFrom(resourcesJson)).build(), Empty.parser(), requestTimeout);
    }

    @Override
    public Metrics statsContainer(String containerId) {
        return call("StatsContainer", container(containerId), StatsContainerResponse.parser(), requestTimeout)
                .getMetrics();
    }

    @Override
    public GuestStats guestStats() {
        return AgentMessages.guestStats(call("GuestStats", Empty.getDefaultInstance(), GuestStatsResponse.parser(),
                requestTimeout));
    }

    @Override
    public List<GuestProcess> listProcesses(String containerId) {
        return AgentMessages.processes(call("ListProcesses", container(containerId), ListProcessesResponse.parser(),
                requestTimeout));
    }

    @Override
    public String waitForOom() {
        return call("GetOOMEvent", Empty.getDefaultInstance(), GetOOMEventResponse.parser(), NO_TIMEOUT)
                .getContainerId();
    }

    private static ContainerRequest container(String containerId) {
        return ContainerRequest.newBuilder().setContainerId(containerId).build();
    }

    @Override
    public Exit waitProcess(String containerId, String execId) {
        WaitProcessRequest request = WaitProcessRequest.newBuilder().setContainerId(containerId).setExecId(execId)
                .setTimeoutMs((int) longPoll.toMillis()).build();
        while (true) {
            WaitProcessResponse response = longPoll("WaitProcess", request, WaitProcessResponse.parser());
            if (!response.getRunning()) {
                return AgentMessages.exit(response);
            }
        }
    }

    @Override
    public void signalProcess(String containerId, String execId, int signal, boolean all) {
        call("SignalProcess", SignalProcessRequest.newBuilder().setContainerId(containerId).setExecId(execId)
                .setSignal(signal).setAll(all).build(), Empty.parser(), requestTimeout);
    }

    /** No timeout: the guest answers only when its pipe has room. */
    @Override
    public int writeStdin(String containerId, String execId, byte[] data) {
        WriteStreamResponse response = call("WriteStdin", WriteStreamRequest.newBuilder()
                .setContainerId(containerId).setExecId(execId).setData(ByteString.copyFrom(data)).build(),
                WriteStreamResponse.parser(), NO_TIMEOUT);
        return response.getLen();
    }

    @Override
    public void closeStdin(String containerId, String execId) {
        call("CloseStdin", CloseStdinRequest.newBuilder().setContainerId(containerId).setExecId(execId).build(),
                Empty.parser(), requestTimeout);
    }

    /** One long poll: output, the end of the stream, or no data (eof false) after the long poll. */
    @Override
    public Chunk readStdout(String containerId, String execId, int maxLen) {
        ReadStreamResponse r = longPoll("ReadStdout", readRequest(containerId, execId, maxLen),
                ReadStreamResponse.parser());
        return AgentMessages.chunk(r.getData(), r.getEof());
    }

    @Override
    public Chunk readStderr(String containerId, String execId, int maxLen) {
        ReadStreamResponse r = longPoll("ReadStderr", readRequest(containerId, execId, maxLen),
                ReadStreamResponse.parser());
        return AgentMessages.chunk(r.getData(), r.getEof());
    }

    @Override
    public void removeContainer(String containerId) {
        call("RemoveContainer", RemoveContainerRequest.newBuilder().setContainerId(containerId).build(),
                Empty.parser(), requestTimeout);
    }

    @Override
    public void configureNetwork(GuestNetwork network) {
        call("ConfigureNetwork", AgentMessages.configureNetwork(network), Empty.parser(), requestTimeout, false);
    }

    /** Bounded by the wait plus the request timeout. */
    @Override
    public List<Integer> listeningPorts(Collection<Integer> known, Duration wait) {
        ListListeningPortsResponse response = call("ListListeningPorts", ListListeningPortsRequest.newBuilder()
                .addAllKnownTcpPorts(known).setWaitMs((int) wait.toMillis()).build(),
                ListListeningPortsResponse.parser(), wait.plus(requestTimeout), false);
        return response.getTcpPortsList();
    }

    @Override
    public String openPortForward(int port) {
        return call("OpenPortForward", OpenPortForwardRequest.newBuilder().setPort(port).build(),
                OpenPortForwardResponse.parser(), requestTimeout, false).getStreamId();
    }

    @Override
    public Chunk readPortForward(String streamId, int maxBytes) {
        PortForwardReadResponse r = call("ReadPortForward", PortForwardReadRequest.newBuilder()
                .setStreamId(streamId).setMaxBytes(maxBytes).build(), PortForwardReadResponse.parser(),
                NO_TIMEOUT, false);
        return AgentMessages.chunk(r.getData(), r.getEof());
    }

    @Override
    public void writePortForward(String streamId, byte[] data) {
        call("WritePortForward", PortForwardWriteRequest.newBuilder().setStreamId(streamId)
                .setData(ByteString.copyFrom(data)).build(), Empty.parser(), NO_TIMEOUT, false);
    }

    @Override
    public void closePortForward(String streamId, boolean writeOnly) {
        call("ClosePortForward", PortForwardCloseRequest.newBuilder().setStreamId(streamId)
                .setWriteOnly(writeOnly).build(), Empty.parser(), requestTimeout, false);
    }

    @Override
    public boolean isClosed() {
        return client.isClosed();
    }

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

    @Override
    public AgentLatencies latencies() {
        return latencies;
    }
}
