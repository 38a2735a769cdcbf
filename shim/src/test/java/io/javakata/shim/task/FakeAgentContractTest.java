package io.javakata.shim.task;

import io.javakata.shim.agent.Agent;
import io.javakata.shim.agent.AgentContract;
import io.javakata.ttrpc.TtrpcServer;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/** The agent contract against {@link FakeAgent}, the agent of the Task service tests. */
class FakeAgentContractTest extends AgentContract {

    private final FakeAgent fake = new FakeAgent();
    private TtrpcServer server;
    private Agent agent;

    @BeforeEach
    void connect() {
        server = new TtrpcServer("fake-agent");
        fake.register(server);
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
        fake.programs.put(containerId, run(program));
        return "{}".getBytes(StandardCharsets.UTF_8);
    }

    @Override
    protected byte[] execProcess(String containerId, String execId, Program program) {
        fake.programs.put(FakeAgent.key(containerId, execId), run(program));
        return "{}".getBytes(StandardCharsets.UTF_8);
    }

    private static FakeAgent.Program run(Program program) {
        return switch (program) {
            case Program.Print print -> p -> {
                p.out(print.stdout());
                p.err(print.stderr());
                p.exit(print.status());
            };
            case Program.Sleep sleep -> p -> p.exit(128 + p.signal.join());
            case Program.Cat cat -> p -> {
                p.stdinClosed.join();
                p.out(new String(p.stdinBytes(), StandardCharsets.UTF_8));
                p.exit(0);
            };
        };
    }
}
