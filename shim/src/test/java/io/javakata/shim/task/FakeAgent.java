package io.javakata.shim.task;

import com.google.protobuf.ByteString;
import com.google.protobuf.Empty;
import com.google.protobuf.Timestamp;
import io.javakata.agent.v1.CheckRequest;
import io.javakata.agent.v1.CheckResponse;
import io.javakata.agent.v1.CloseStdinRequest;
import io.javakata.agent.v1.CreateContainerRequest;
import io.javakata.agent.v1.CreateContainerResponse;
import io.containerd.cgroups.v2.MemoryStat;
import io.containerd.cgroups.v2.Metrics;
import io.javakata.agent.v1.ContainerRequest;
import io.javakata.agent.v1.ExecProcessRequest;
import io.javakata.agent.v1.GetOOMEventResponse;
import io.javakata.agent.v1.GuestProcess;
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
import io.javakata.shim.agent.TtrpcAgent;
import io.javakata.ttrpc.Errors;
import io.javakata.ttrpc.TtrpcServer;
import java.io.ByteArrayOutputStream;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * The agent API implemented in memory. A container's "process" is a {@link Program} run on a
 * virtual thread at StartContainer; it writes output chunks into queues the shim drains with
 * ReadStdout/ReadStderr. As the real agent, WaitProcess answers after exit and after both output
 * streams ended (the program closes them before exiting).
 *
 * <p>It stays a wire-level fake (handlers on a {@link TtrpcServer}) rather than an implementation of
 * {@link io.javakata.shim.agent.Agent}: the Task service tests build their sandboxes the way the shim does,
 * dialing the agent's endpoint and talking to it through {@link io.javakata.shim.agent.TtrpcAgent}, so
 * they also cover that implementation, its message conversions, its long polls and a connection that
 * closes under calls in flight. {@code FakeAgentContractTest} runs {@link io.javakata.shim.agent.AgentContract}
 * against it through the same {@code Agent} interface as {@code GuestAgentContractTest} runs against the
 * real guest agent, so its answers cannot drift from the guest's.
 */
final class FakeAgent {

    /** What a fake process does when started. */
    @FunctionalInterface
    interface Program extends Consumer<FakeProcess> {
    }

    static final ByteString EOF = ByteString.copyFromUtf8("<eof>");

    final Map<String, FakeProcess> processes = new ConcurrentHashMap<>();
    final Map<String, Program> programs = new ConcurrentHashMap<>();
    final Map<String, byte[]> specs = new ConcurrentHashMap<>();
    final List<String> calls = new CopyOnWriteArrayList<>();
    final LinkedBlockingQueue<String> oomEvents = new LinkedBlockingQueue<>();
    volatile String failCreateWith;
    volatile boolean checkUnavailable;
    final java.util.concurrent.atomic.AtomicInteger initGuests = new java.util.concurrent.atomic.AtomicInteger();
    /** SignalProcess answers as an agent that lost its connection would. */
    volatile boolean signalUnavailable;

    /** One container's process. */
    static final class FakeProcess {
        final String id;
        final CreateContainerRequest request;
        final LinkedBlockingQueue<ByteString> stdout = new LinkedBlockingQueue<>();
        final LinkedBlockingQueue<ByteString> stderr = new LinkedBlockingQueue<>();
        final AtomicBoolean stdoutEofDelivered = new AtomicBoolean();
        final ByteArrayOutputStream stdin = new ByteArrayOutputStream();
        final CompletableFuture<Void> stdinClosed = new CompletableFuture<>();
        final CompletableFuture<Integer> signal = new CompletableFuture<>();
        final CompletableFuture<Integer> exit = new CompletableFuture<>();
        volatile boolean oomKilled;

        FakeProcess(String id, CreateContainerRequest request) {
            this.id = id;
            this.request = request;
        }

        void out(String text) {
            stdout.add(ByteString.copyFromUtf8(text));
        }

        void err(String text) {
            stderr.add(ByteString.copyFromUtf8(text));
        }

        /** Ends both streams, then exits: the order the real agent guarantees. */
        void exit(int status) {
            stdout.add(EOF);
            stderr.add(EOF);
            exit.complete(status);
        }

        synchronized byte[] stdinBytes() {
            return stdin.toByteArray();
        }
    }

    void register(TtrpcServer server) {
        String s = TtrpcAgent.SERVICE;
        server.registerUnary(s, "Check", CheckRequest.parser(), (c, r) -> {
            calls.add("Check");
            if (checkUnavailable) {
                throw Errors.deadlineExceeded("Check: no answer within PT1S");
            }
            return CheckResponse.newBuilder().setVersion("fake").setKernelRelease("6.1.0-fake").build();
        });
        // Not in calls: every pod sends it after Check, and the call lists tests compare are about containers.
        server.registerUnary(s, "InitGuest", io.javakata.agent.v1.InitGuestRequest.parser(), (c, r) -> {
            if (r.getEntropy().size() < 64) {
                throw Errors.invalidArgument("entropy: %d bytes, at least 64 needed", r.getEntropy().size());
            }
            initGuests.incrementAndGet();
            return com.google.protobuf.Empty.getDefaultInstance();
        });
        server.registerUnary(s, "CreateContainer", CreateContainerRequest.parser(), (c, r) -> {
            calls.add("CreateContainer " + r.getContainerId());
            if (failCreateWith != null) {
                throw Errors.invalidArgument(failCreateWith);
            }
            if (processes.putIfAbsent(r.getContainerId(), new FakeProcess(r.getContainerId(), r)) != null) {
                throw Errors.alreadyExists("container %s already exists", r.getContainerId());
            }
            specs.put(r.getContainerId(), r.getOciSpec().toByteArray());
            return CreateContainerResponse.newBuilder().setPid(100).build();
        });
        server.registerUnary(s, "StartContainer", StartContainerRequest.parser(), (c, r) -> {
            String key = key(r.getContainerId(), r.getExecId());
            calls.add("StartContainer " + key);
            FakeProcess p = process(key);
            Program program = programs.getOrDefault(key, proc -> proc.exit(0));
            Thread.ofVirtual().start(() -> program.accept(p));
            return StartContainerResponse.newBuilder().setPid(r.getExecId().isEmpty() ? 100 : 200).build();
        });
        server.registerUnary(s, "WaitProcess", WaitProcessRequest.parser(), (c, r) -> {
            FakeProcess p = process(key(r.getContainerId(), r.getExecId()));
            int status;
            try {
                status = r.getTimeoutMs() == 0 ? p.exit.join() : p.exit.get(r.getTimeoutMs(), TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                return WaitProcessResponse.newBuilder().setRunning(true).build();
            }
            Instant now = Instant.now();
            return WaitProcessResponse.newBuilder().setExitStatus(status).setOomKilled(p.oomKilled)
                    .setExitedAt(Timestamp.newBuilder().setSeconds(now.getEpochSecond()).setNanos(now.getNano()))
                    .build();
        });
        server.registerUnary(s, "ExecProcess", ExecProcessRequest.parser(), (c, r) -> {
            String key = key(r.getContainerId(), r.getExecId());
            calls.add("ExecProcess " + key + " " + r.getProcess().toStringUtf8());
            process(r.getContainerId());
            if (processes.putIfAbsent(key, new FakeProcess(key, CreateContainerRequest.newBuilder()
                    .setTerminal(r.getTerminal()).build())) != null) {
                throw Errors.alreadyExists("exec %s already exists", r.getExecId());
            }
            return Empty.getDefaultInstance();
        });
        server.registerUnary(s, "RemoveProcess", RemoveProcessRequest.parser(), (c, r) -> {
            String key = key(r.getContainerId(), r.getExecId());
            calls.add("RemoveProcess " + key);
            FakeProcess p = processes.remove(key);
            if (p == null) {
                throw Errors.notFound("exec %s not found", r.getExecId());
            }
            p.stdout.add(EOF);
            p.stderr.add(EOF);
            return Empty.getDefaultInstance();
        });
        server.registerUnary(s, "ResizePty", ResizePtyRequest.parser(), (c, r) -> {
            calls.add("ResizePty " + key(r.getContainerId(), r.getExecId()) + " " + r.getWidth() + "x"
                    + r.getHeight());
            process(key(r.getContainerId(), r.getExecId()));
            return Empty.getDefaultInstance();
        });
        server.registerUnary(s, "PauseContainer", ContainerRequest.parser(), (c, r) -> {
            calls.add("PauseContainer " + r.getContainerId());
            process(r.getContainerId());
            return Empty.getDefaultInstance();
        });
        server.registerUnary(s, "ResumeContainer", ContainerRequest.parser(), (c, r) -> {
            calls.add("ResumeContainer " + r.getContainerId());
            process(r.getContainerId());
            return Empty.getDefaultInstance();
        });
        server.registerUnary(s, "UpdateContainer", UpdateContainerRequest.parser(), (c, r) -> {
            calls.add("UpdateContainer " + r.getContainerId() + " " + r.getResources().toStringUtf8());
            process(r.getContainerId());
            return Empty.getDefaultInstance();
        });
        server.registerUnary(s, "StatsContainer", ContainerRequest.parser(), (c, r) -> {
            process(r.getContainerId());
            return StatsContainerResponse.newBuilder().setMetrics(Metrics.newBuilder()
                    .setMemory(MemoryStat.newBuilder().setUsage(4096).setUsageLimit(33554432))).build();
        });
        server.registerUnary(s, "ListProcesses", ContainerRequest.parser(), (c, r) -> {
            process(r.getContainerId());
            ListProcessesResponse.Builder list = ListProcessesResponse.newBuilder()
                    .addProcesses(GuestProcess.newBuilder().setPid(100));
            processes.keySet().stream().filter(k -> k.startsWith(r.getContainerId() + "/")).sorted()
                    .forEach(k -> list.addProcesses(GuestProcess.newBuilder().setPid(200)
                            .setExecId(k.substring(k.indexOf('/') + 1))));
            return list.build();
        });
        server.registerUnary(s, "GetOOMEvent", Empty.parser(),
                (c, r) -> GetOOMEventResponse.newBuilder().setContainerId(oomEvents.take()).build());
        server.registerUnary(s, "SignalProcess", SignalProcessRequest.parser(), (c, r) -> {
            calls.add("SignalProcess " + key(r.getContainerId(), r.getExecId()) + " " + r.getSignal());
            if (signalUnavailable) {
                throw Errors.unavailable("SignalProcess: agent not answering");
            }
            FakeProcess p = process(key(r.getContainerId(), r.getExecId()));
            if (p.exit.isDone()) {
                throw Errors.notFound("process already finished");
            }
            p.signal.complete(r.getSignal());
            return Empty.getDefaultInstance();
        });
        server.registerUnary(s, "ReadStdout", ReadStreamRequest.parser(), (c, r) -> {
            FakeProcess p = process(key(r.getContainerId(), r.getExecId()));
            return read(p.stdout, p.stdoutEofDelivered, r.getTimeoutMs());
        });
        server.registerUnary(s, "ReadStderr", ReadStreamRequest.parser(),
                (c, r) -> read(process(key(r.getContainerId(), r.getExecId())).stderr, new AtomicBoolean(),
                        r.getTimeoutMs()));
        server.registerUnary(s, "WriteStdin", WriteStreamRequest.parser(), (c, r) -> {
            FakeProcess p = process(key(r.getContainerId(), r.getExecId()));
            synchronized (p) {
                p.stdin.writeBytes(r.getData().toByteArray());
            }
            return WriteStreamResponse.newBuilder().setLen(r.getData().size()).build();
        });
        server.registerUnary(s, "CloseStdin", CloseStdinRequest.parser(), (c, r) -> {
            calls.add("CloseStdin " + key(r.getContainerId(), r.getExecId()));
            process(key(r.getContainerId(), r.getExecId())).stdinClosed.complete(null);
            return Empty.getDefaultInstance();
        });
        server.registerUnary(s, "RemoveContainer", RemoveContainerRequest.parser(), (c, r) -> {
            calls.add("RemoveContainer " + r.getContainerId());
            FakeProcess p = processes.remove(r.getContainerId());
            if (p == null) {
                throw Errors.notFound("container %s not found", r.getContainerId());
            }
            p.stdout.add(EOF);
            p.stderr.add(EOF);
            return Empty.getDefaultInstance();
        });
    }

    /** "c1" for an init, "c1/e1" for an exec. */
    static String key(String containerId, String execId) {
        return execId.isEmpty() ? containerId : containerId + "/" + execId;
    }

    FakeProcess process(String id) {
        FakeProcess p = processes.get(id);
        if (p == null) {
            throw Errors.notFound("container %s not found", id);
        }
        return p;
    }

    /** As the agent's read: blocks until data or EOF, or answers no data after {@code timeoutMs} (0: no bound). */
    private static ReadStreamResponse read(LinkedBlockingQueue<ByteString> queue, AtomicBoolean eofDelivered,
                                           int timeoutMs) throws InterruptedException {
        ByteString chunk = timeoutMs == 0 ? queue.take() : queue.poll(timeoutMs, TimeUnit.MILLISECONDS);
        if (chunk == null) {
            return ReadStreamResponse.getDefaultInstance();
        }
        if (chunk == EOF) {
            queue.add(EOF);
            eofDelivered.set(true);
            return ReadStreamResponse.newBuilder().setEof(true).build();
        }
        return ReadStreamResponse.newBuilder().setData(chunk).build();
    }
}
