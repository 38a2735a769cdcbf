package io.javakata.guest;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;

import com.google.protobuf.ByteString;

import io.javakata.agent.v1.CheckRequest;
import io.javakata.agent.v1.CheckResponse;
import io.javakata.agent.v1.CreateContainerRequest;
import io.javakata.agent.v1.CreateContainerResponse;
import io.javakata.agent.v1.ReadStreamRequest;
import io.javakata.agent.v1.ReadStreamResponse;
import io.javakata.agent.v1.WaitProcessRequest;
import io.javakata.agent.v1.WaitProcessResponse;
import io.javakata.guest.container.ContainerManager;
import io.javakata.guest.container.OciCli;
import io.javakata.guest.network.NetworkConfigurator;
import io.javakata.guest.reaper.Reaper;
import io.javakata.guest.reaper.SystemChildWaiter;
import io.javakata.guest.rpc.AgentService;
import io.javakata.guest.stdio.StreamBuffer;
import io.javakata.sys.RouteNetlink;
import io.javakata.ttrpc.RuntimeStatusException;
import io.javakata.ttrpc.TtrpcClient;
import io.javakata.ttrpc.TtrpcServer;
import io.javakata.ttrpc.transport.PipeConnection;

/**
 * The AOT training run ({@code java -XX:AOTCacheOutput=… -jar javakata-agent.jar --train}), done by
 * guest/image/build.sh inside the image root: serves a few requests over an in-memory connection so
 * the classes and methods of a real request path land in the cache. Under TCG this takes seconds
 * off the agent's start-up.
 */
final class Training {

    private static final System.Logger LOG = System.getLogger(Training.class.getName());
    private static final String SERVICE = AgentService.SERVICE;
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    private Training() {
    }

    static void run() throws IOException, InterruptedException {
        Path work = Files.createTempDirectory("javakata-train");
        Reaper reaper = new Reaper(new SystemChildWaiter(), Clock.systemUTC());
        // crun is spawned and reaped by the reaper's loop, as in the guest (without it the failed create of the
        // request below would wait out its timeout).
        reaper.startLoop();
        ContainerManager containers = new ContainerManager(work.resolve("bundles"),
                new OciCli(Path.of(Main.OCI_RUNTIME), work.resolve("crun"), reaper), reaper);
        AgentService service = new AgentService(containers, "train", Path.of("/proc/sys"), () -> { });
        PipeConnection[] pipe = PipeConnection.pair();
        try (TtrpcServer server = new TtrpcServer("train")) {
            service.register(server);
            Thread serving = Thread.ofVirtual().start(() -> server.serve(pipe[0]));
            try (TtrpcClient client = new TtrpcClient(pipe[1])) {
                CheckResponse check = client.call(SERVICE, "Check", CheckRequest.getDefaultInstance(),
                        CheckResponse.parser(), TIMEOUT);
                expectError(() -> client.call(SERVICE, "CreateContainer", CreateContainerRequest.newBuilder()
                        .setContainerId("train").setOciSpec(ByteString.copyFromUtf8("{}")).setStdout(true)
                        .setStderr(true).build(), CreateContainerResponse.parser(), TIMEOUT));
                expectError(() -> client.call(SERVICE, "WaitProcess",
                        WaitProcessRequest.newBuilder().setContainerId("none").build(),
                        WaitProcessResponse.parser(), TIMEOUT));
                expectError(() -> client.call(SERVICE, "ReadStdout",
                        ReadStreamRequest.newBuilder().setContainerId("none").build(),
                        ReadStreamResponse.parser(), TIMEOUT));
                LOG.log(Level.INFO, "msg=\"training done\" kernel={0}", check.getKernelRelease());
            }
            pipe[0].close();
            serving.join(TIMEOUT);
        }
        // ConfigureNetwork: a pod's request planned and walked without changes, then the rtnetlink path, read-only
        // (the build's own loopback link is only looked up).
        Path net = Files.createDirectories(work.resolve("sys-class-net/lo"));
        Files.writeString(net.resolve("address"), "00:00:00:00:00:00\n");
        LOG.log(Level.DEBUG, "msg=\"rehearsed ConfigureNetwork\" changes={0}", new NetworkConfigurator(net.getParent(),
                work.resolve("hostname"), pid -> {
                    throw new IOException("the rehearsal opens no links");
                }).rehearse(1));
        try (RouteNetlink netlink = RouteNetlink.open()) {
            LOG.log(Level.DEBUG, "msg=\"trained rtnetlink\" lo={0}", netlink.linkIndex("lo"));
        } catch (IOException e) {
            LOG.log(Level.INFO, "msg=\"rtnetlink not trained\" error=\"{0}\"", e.getMessage());
        }
        StreamBuffer buffer = new StreamBuffer(64);
        buffer.write(new byte[16], 0, 16);
        buffer.finish();
        buffer.read(8);
        reaper.close();
    }

    private static void expectError(Runnable call) {
        try {
            call.run();
        } catch (RuntimeStatusException e) {
            LOG.log(Level.DEBUG, "msg=\"expected error\" code={0}", e.code());
        }
    }
}
