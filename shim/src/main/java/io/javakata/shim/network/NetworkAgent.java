package io.javakata.shim.network;

import com.google.protobuf.ByteString;
import com.google.protobuf.Empty;
import io.javakata.agent.v1.ConfigureNetworkRequest;
import io.javakata.agent.v1.ListListeningPortsRequest;
import io.javakata.agent.v1.ListListeningPortsResponse;
import io.javakata.agent.v1.OpenPortForwardRequest;
import io.javakata.agent.v1.PortForwardCloseRequest;
import io.javakata.agent.v1.PortForwardReadRequest;
import io.javakata.agent.v1.PortForwardReadResponse;
import io.javakata.agent.v1.PortForwardWriteRequest;
import io.javakata.ttrpc.TtrpcClient;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Objects;

/**
 * The agent's networking RPCs ({@code javakata.agent.v1.Agent}) on the pod's ttrpc connection.
 * Thread-safe. Reads and the port watch block by design and carry no timeout of their own (the
 * watch is bounded by its wait); the others carry the configured request timeout.
 */
public final class NetworkAgent {

    private static final String SERVICE = "javakata.agent.v1.Agent";

    private final TtrpcClient client;
    private final Duration requestTimeout;

    public NetworkAgent(TtrpcClient client, Duration requestTimeout) {
        this.client = Objects.requireNonNull(client, "client");
        this.requestTimeout = Objects.requireNonNull(requestTimeout, "requestTimeout");
    }

    public void configureNetwork(ConfigureNetworkRequest request) {
        client.call(SERVICE, "ConfigureNetwork", request, Empty.parser(), requestTimeout);
    }

    /** The guest's listening TCP ports, once they differ from {@code known} or after {@code wait}. */
    public List<Integer> listeningPorts(Collection<Integer> known, Duration wait) {
        ListListeningPortsResponse response = client.call(SERVICE, "ListListeningPorts",
                ListListeningPortsRequest.newBuilder().addAllKnownTcpPorts(known).setWaitMs((int) wait.toMillis()).build(),
                ListListeningPortsResponse.parser(), wait.plus(requestTimeout));
        return response.getTcpPortsList();
    }

    public String open(int port) {
        return client.call(SERVICE, "OpenPortForward", OpenPortForwardRequest.newBuilder().setPort(port).build(),
                io.javakata.agent.v1.OpenPortForwardResponse.parser(), requestTimeout).getStreamId();
    }

    public PortForwardReadResponse read(String streamId, int maxBytes) {
        return client.call(SERVICE, "ReadPortForward", PortForwardReadRequest.newBuilder().setStreamId(streamId)
                .setMaxBytes(maxBytes).build(), PortForwardReadResponse.parser(), Duration.ZERO);
    }

    public void write(String streamId, ByteString data) {
        client.call(SERVICE, "WritePortForward", PortForwardWriteRequest.newBuilder().setStreamId(streamId)
                .setData(data).build(), Empty.parser(), Duration.ZERO);
    }

    public void close(String streamId, boolean writeOnly) {
        client.call(SERVICE, "ClosePortForward", PortForwardCloseRequest.newBuilder().setStreamId(streamId)
                .setWriteOnly(writeOnly).build(), Empty.parser(), requestTimeout);
    }
}
