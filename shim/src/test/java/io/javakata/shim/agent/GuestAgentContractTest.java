package io.javakata.shim.agent;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javakata.guest.container.ContainerManager;
import io.javakata.guest.container.OciCli;
import io.javakata.guest.reaper.Reaper;
import io.javakata.guest.reaper.SystemChildWaiter;
import io.javakata.guest.rpc.AgentService;
import io.javakata.sys.Processes;
import io.javakata.ttrpc.TtrpcServer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * The agent contract against the real guest {@link AgentService} and {@link ContainerManager}, served over
 * an in-memory ttrpc connection in this JVM, with the guest module's test stand-in for runc (fake-runc.sh:
 * runc's command line, the container a plain child process). This JVM becomes a child subreaper, as the
 * agent is in the guest, so it runs in a fork of its own (shim/pom.xml).
 */
class GuestAgentContractTest extends AgentContract {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static Reaper reaper;

    @TempDir
    Path tmp;

    private TtrpcServer server;
    private Agent agent;

    @BeforeAll
    static void becomeSubreaper() throws IOException {
        Processes.setChildSubreaper();
        reaper = new Reaper(new SystemChildWaiter(), Clock.systemUTC());
        reaper.startLoop();
    }

    @AfterAll
    static void stopReaper() {
        reaper.close();
    }

    @BeforeEach
    void connect() throws IOException {
        Path runc = tmp.resolve("runc");
        try (InputStream script = GuestAgentContractTest.class.getResourceAsStream("/fake-runc.sh")) {
            if (script == null) {
                throw new IllegalStateException("fake-runc.sh is not on the test class path (the guest module's tests)");
            }
            Files.copy(script, runc);
        }
        runc.toFile().setExecutable(true);
        ContainerManager containers = new ContainerManager(tmp.resolve("bundles"), new OciCli(runc, tmp.resolve("state"),
                reaper), reaper, Path.of("/proc"), tmp.resolve("cgroup"));
        server = new TtrpcServer("guest-agent");
        new AgentService(containers, "contract", Path.of("/proc/sys"), () -> { }).register(server);
        agent = connect(server);
    }

    @AfterEach
    void close() {
        agent.close();
        server.close();
    }

    @Override
    protected Agent agent() {
        return agent;
    }

    @Override
    protected byte[] containerSpec(String containerId, Program program) {
        ObjectNode spec = JSON.createObjectNode();
        spec.putObject("process").set("args", JSON.valueToTree(commandLine(program)));
        return spec.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }

    @Override
    protected byte[] execProcess(String containerId, String execId, Program program) {
        ObjectNode process = JSON.createObjectNode();
        process.set("args", JSON.valueToTree(commandLine(program)));
        return process.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }
}
