package io.javakata.shim.task;

import com.google.protobuf.ByteString;
import com.google.protobuf.Empty;
import com.google.protobuf.Timestamp;
import io.javakata.agent.v1.CheckRequest;
import io.javakata.agent.v1.CheckResponse;
import io.javakata.agent.v1.CloseStdinRequest;
import io.javakata.agent.v1.CreateContainerRequest;
import io.javakata.agent.v1.CreateContainerResponse;
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
import io.javakata.shim.agent.AgentClient;
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
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * The agent API implemented in memory. A container's "process" is a {@link Program} run on a
 * virtual thread at StartContainer; it writes output chunks into queues the shim drains with
 * ReadStdout/ReadStderr. As the real agent, WaitProcess answers after exit and after both output
 * streams ended (the program closes them before exiting).
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
    volatile String failCreateWith;
    volatile boolean checkUnavailable;

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

        FakeProcess(String id, CreateContainerRequest request) {
            this.id = id;
            this.request = request;
        }

        void out(String text) {
            stdout.add(ByteString.copyFromUtf8(text));
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
        String s = AgentClient.SERVICE;
        server.registerUnary(s, "Check", CheckRequest.parser(), (c, r) -> {
            calls.add("Check");
            if (checkUnavailable) {
                throw Errors.deadlineExceeded("Check: no answer within PT1S");
            }
            return CheckResponse.newBuilder().setVersion("fake").setKernelRelease("6.1.0-fake").build();
        });
        server.registerUnary(s, "CreateContainer", CreateContainerRequest.parser(), (c, r) -> {
            calls.add("CreateContainer " + r.getContainerId());
            if (failCreateWith != null) {
                throw Errors.invalidArgument(failCreateWith);
            }
            specs.put(r.getContainerId(), r.getOciSpec().toByteArray());
            processes.put(r.getContainerId(), new FakeProcess(r.getContainerId(), r));
            return CreateContainerResponse.newBuilder().setPid(100).build();
        });
        server.registerUnary(s, "StartContainer", StartContainerRequest.parser(), (c, r) -> {
            calls.add("StartContainer " + r.getContainerId());
            FakeProcess p = process(r.getContainerId());
            Program program = programs.getOrDefault(r.getContainerId(), proc -> proc.exit(0));
            Thread.ofVirtual().start(() -> program.accept(p));
            return StartContainerResponse.newBuilder().setPid(100).build();
        });
        server.registerUnary(s, "WaitProcess", WaitProcessRequest.parser(), (c, r) -> {
            int status = process(r.getContainerId()).exit.join();
            Instant now = Instant.now();
            return WaitProcessResponse.newBuilder().setExitStatus(status)
                    .setExitedAt(Timestamp.newBuilder().setSeconds(now.getEpochSecond()).setNanos(now.getNano()))
                    .build();
        });
        server.registerUnary(s, "SignalProcess", SignalProcessRequest.parser(), (c, r) -> {
            calls.add("SignalProcess " + r.getContainerId() + " " + r.getSignal());
            FakeProcess p = process(r.getContainerId());
            if (p.exit.isDone()) {
                throw Errors.notFound("process already finished");
            }
            p.signal.complete(r.getSignal());
            return Empty.getDefaultInstance();
        });
        server.registerUnary(s, "ReadStdout", ReadStreamRequest.parser(),
                (c, r) -> read(process(r.getContainerId()).stdout, process(r.getContainerId()).stdoutEofDelivered));
        server.registerUnary(s, "ReadStderr", ReadStreamRequest.parser(),
                (c, r) -> read(process(r.getContainerId()).stderr, new AtomicBoolean()));
        server.registerUnary(s, "WriteStdin", WriteStreamRequest.parser(), (c, r) -> {
            FakeProcess p = process(r.getContainerId());
            synchronized (p) {
                p.stdin.writeBytes(r.getData().toByteArray());
            }
            return WriteStreamResponse.newBuilder().setLen(r.getData().size()).build();
        });
        server.registerUnary(s, "CloseStdin", CloseStdinRequest.parser(), (c, r) -> {
            calls.add("CloseStdin " + r.getContainerId());
            process(r.getContainerId()).stdinClosed.complete(null);
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

    FakeProcess process(String id) {
        FakeProcess p = processes.get(id);
        if (p == null) {
            throw Errors.notFound("container %s not found", id);
        }
        return p;
    }

    private static ReadStreamResponse read(LinkedBlockingQueue<ByteString> queue, AtomicBoolean eofDelivered)
            throws InterruptedException {
        ByteString chunk = queue.take();
        if (chunk == EOF) {
            queue.add(EOF);
            eofDelivered.set(true);
            return ReadStreamResponse.newBuilder().setEof(true).build();
        }
        return ReadStreamResponse.newBuilder().setData(chunk).build();
    }
}
