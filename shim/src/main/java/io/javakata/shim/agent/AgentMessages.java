package io.javakata.shim.agent;

import com.google.protobuf.ByteString;
import io.javakata.agent.v1.CheckResponse;
import io.javakata.agent.v1.ConfigureNetworkRequest;
import io.javakata.agent.v1.CreateContainerRequest;
import io.javakata.agent.v1.ExecProcessRequest;
import io.javakata.agent.v1.GuestStatsResponse;
import io.javakata.agent.v1.ListProcessesResponse;
import io.javakata.agent.v1.NetworkInterface;
import io.javakata.agent.v1.NetworkRoute;
import io.javakata.agent.v1.WaitProcessResponse;
import java.time.Instant;
import java.util.List;

/**
 * The one place where the shim's agent types ({@link Agent}) meet the generated protobuf messages of
 * {@code javakata.agent.v1}: a static method per direction and message that carries more than ids.
 */
final class AgentMessages {

    private AgentMessages() {
    }

    static Agent.Info info(CheckResponse response) {
        return new Agent.Info(response.getVersion(), response.getKernelRelease());
    }

    static CreateContainerRequest createContainer(String containerId, byte[] ociSpec, Agent.Stdio stdio) {
        return CreateContainerRequest.newBuilder().setContainerId(containerId).setOciSpec(ByteString.copyFrom(ociSpec))
                .setTerminal(stdio.terminal()).setStdin(stdio.stdin()).setStdout(stdio.stdout())
                .setStderr(stdio.stderr()).build();
    }

    static ExecProcessRequest execProcess(String containerId, String execId, byte[] processJson, Agent.Stdio stdio) {
        return ExecProcessRequest.newBuilder().setContainerId(containerId).setExecId(execId)
                .setProcess(ByteString.copyFrom(processJson)).setTerminal(stdio.terminal())
                .setStdin(stdio.stdin()).setStdout(stdio.stdout()).setStderr(stdio.stderr()).build();
    }

    /** The guest's exit time, or now when the answer carries none. */
    static Agent.Exit exit(WaitProcessResponse response) {
        Instant at = response.hasExitedAt()
                ? Instant.ofEpochSecond(response.getExitedAt().getSeconds(), response.getExitedAt().getNanos())
                : Instant.now();
        return new Agent.Exit(response.getExitStatus(), at, response.getOomKilled());
    }

    static Agent.Chunk chunk(ByteString data, boolean eof) {
        return new Agent.Chunk(data.toByteArray(), eof);
    }

    static List<Agent.GuestProcess> processes(ListProcessesResponse response) {
        return response.getProcessesList().stream()
                .map(p -> new Agent.GuestProcess(p.getPid(), p.getExecId())).toList();
    }

    static Agent.GuestStats guestStats(GuestStatsResponse s) {
        return new Agent.GuestStats(s.getMemTotal(), s.getMemAvailable(), s.getMemFree(), s.getCached(),
                s.getShmem(), s.getLoad1(), s.getLoad5(), s.getLoad15(), s.getUptimeSeconds());
    }

    static ConfigureNetworkRequest configureNetwork(Agent.GuestNetwork network) {
        ConfigureNetworkRequest.Builder request = ConfigureNetworkRequest.newBuilder()
                .setHostname(network.hostname() == null ? "" : network.hostname())
                .setNetnsPid(network.netnsPid());
        for (Agent.GuestNetwork.Interface i : network.interfaces()) {
            request.addInterfaces(NetworkInterface.newBuilder().setMac(i.mac()).setName(i.name()).setMtu(i.mtu())
                    .addAllAddresses(i.addresses()));
        }
        for (Agent.GuestNetwork.Route r : network.routes()) {
            request.addRoutes(NetworkRoute.newBuilder().setDestination(r.destination()).setGateway(r.gateway())
                    .setDevice(r.device()).setSource(r.source()).setFamily(r.family()));
        }
        return request.build();
    }
}
