package io.javakata.shim.task;

import io.javakata.hypervisor.Accelerator;
import io.javakata.hypervisor.AgentEndpoint;
import io.javakata.hypervisor.Hypervisor;
import io.javakata.hypervisor.VmSpec;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/** A VM that is only a record of what was asked of it; its "VMM pid" is the test JVM's. */
final class FakeHypervisor implements Hypervisor {

    final VmSpec spec;
    volatile boolean started;
    volatile boolean stopped;
    private final CompletableFuture<Integer> exit = new CompletableFuture<>();
    final CompletableFuture<String> backendExit = new CompletableFuture<>();

    FakeHypervisor(VmSpec spec) {
        this.spec = spec;
    }

    @Override
    public void start(java.util.function.Consumer<OwnedProcess> launched) throws IOException {
        if (!java.nio.file.Files.isDirectory(spec.stateDir())) {
            throw new IOException("state dir " + spec.stateDir() + " missing");
        }
        java.nio.file.Files.writeString(spec.stateDir().resolve("console.log"), "[    0.1] Linux version fake\n"
                + "[    4.2] Kernel panic - not syncing: fake\n");
        started = true;
    }

    @Override
    public AgentEndpoint agentEndpoint() {
        return new AgentEndpoint.Serial(spec.stateDir().resolve("agent.sock"), "agent0");
    }

    @Override
    public long pid() {
        return ProcessHandle.current().pid();
    }

    /** Unknown: the pid is this test JVM's, whose scheduling says nothing about a guest. */
    @Override
    public java.util.Optional<io.javakata.hypervisor.SchedStat> vmmSchedStat() {
        return java.util.Optional.empty();
    }

    @Override
    public Accelerator.Choice accelerator() {
        return new Accelerator.Choice(Accelerator.TCG, "fake VM");
    }

    @Override
    public CompletableFuture<Integer> onExit() {
        return exit;
    }

    /** None: its "VMM" is the test JVM, which no cleanup may kill. */
    @Override
    public java.util.List<OwnedProcess> processes() {
        return java.util.List.of();
    }

    @Override
    public CompletableFuture<String> onBackendExit() {
        return backendExit;
    }

    @Override
    public void stop(Duration grace) {
        stopped = true;
        exit.complete(0);
    }

    @Override
    public void close() {
        stop(Duration.ofSeconds(2));
    }
}
