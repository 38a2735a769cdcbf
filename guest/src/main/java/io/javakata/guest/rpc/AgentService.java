package io.javakata.guest.rpc;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import com.google.protobuf.ByteString;
import com.google.protobuf.Empty;
import com.google.protobuf.Timestamp;

import io.javakata.agent.v1.ContainerRequest;
import io.javakata.agent.v1.ExecProcessRequest;
import io.javakata.agent.v1.GetOOMEventResponse;
import io.javakata.agent.v1.GuestProcess;
import io.javakata.agent.v1.ListProcessesResponse;
import io.javakata.agent.v1.RemoveProcessRequest;
import io.javakata.agent.v1.ResizePtyRequest;
import io.javakata.agent.v1.StatsContainerResponse;
import io.javakata.agent.v1.UpdateContainerRequest;
import io.javakata.agent.v1.CheckRequest;
import io.javakata.agent.v1.CheckResponse;
import io.javakata.agent.v1.InitGuestRequest;
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
import io.javakata.guest.container.Container;
import io.javakata.guest.container.ContainerManager;
import io.javakata.guest.container.ContainerProcess;
import io.javakata.guest.container.ExecProcess;
import io.javakata.guest.container.OomWatcher;
import io.javakata.sys.ErrnoException;
import io.javakata.sys.NativeHeap;
import io.javakata.guest.reaper.ExitStatus;
import io.javakata.guest.stdio.StreamBuffer;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.Errors;
import io.javakata.ttrpc.TtrpcServer;

/**
 * {@code javakata.agent.v1.Agent}: translates the agent API to {@link ContainerManager} calls and
 * nothing else. An exec_id of "" names a container's init process, any other one of its execs.
 *
 * <p>Handlers block (WaitProcess until the exit, Read* until data, each at most the request's
 * timeout_ms when it gives one); the ttrpc server runs each request on its own virtual thread.
 */
public final class AgentService {

    public static final String SERVICE = "javakata.agent.v1.Agent";
    /** Upper bound on one ReadStdout/ReadStderr answer, well under ttrpc's 4 MiB frame limit. */
    static final int MAX_READ = 1 << 20;

    private static final System.Logger LOG = System.getLogger(AgentService.class.getName());
    private final ContainerManager containers;
    private final String version;
    private final Path procSys;
    private final OomWatcher oom;
    /** Runs ConfigureNetwork's code without configuring a pod's network; a template's warm-up. */
    private final Runnable networkWarmUp;
    private final GuestInit init = new GuestInit(Path.of("/dev/urandom"), GuestInit.SHARE);
    /** Where a template's warm-up container gets its (empty, removed) root. */
    static final Path WARM_UP_ROOT = Path.of("/run/javakata/warm-up/rootfs");
    /**
     * Whether InitGuest ran: until then Check does not read the boot id, which the kernel makes at its first read.
     * A VM template is saved after its Check and its warm-up InitGuest (which leaves this false), so each clone makes
     * its own boot id after its reseed.
     */
    private volatile boolean initialized;
    /**
     * The longest time between two readings of the containers' OOM kill counters: a change wakes the watcher at once
     * (OomWatcher); this picks up containers created since it last looked.
     */
    static final java.time.Duration OOM_READ_PERIOD = java.time.Duration.ofSeconds(2);

    /**
     * @param procSys       {@code /proc/sys}, where the kernel release and boot id are read
     * @param networkWarmUp runs ConfigureNetwork's code without configuring a pod's network
     *                      ({@code NetworkService.warmUp}); a template's warm-up InitGuest runs it
     */
    public AgentService(ContainerManager containers, String version, Path procSys, Runnable networkWarmUp) {
        this(containers, version, procSys, new OomWatcher(containers, OOM_READ_PERIOD), networkWarmUp);
    }

    AgentService(ContainerManager containers, String version, Path procSys, OomWatcher oom,
            Runnable networkWarmUp) {
        this.containers = containers;
        this.version = version;
        this.procSys = procSys;
        this.oom = oom;
        this.networkWarmUp = networkWarmUp;
    }

    public void register(TtrpcServer server) {
        server.registerUnary(SERVICE, "Check", CheckRequest.parser(), (ctx, q) -> check());
        server.registerUnary(SERVICE, "InitGuest", InitGuestRequest.parser(), (ctx, q) -> initGuest(q));
        server.registerUnary(SERVICE, "CreateContainer", CreateContainerRequest.parser(), (ctx, q) -> create(q));
        server.registerUnary(SERVICE, "StartContainer", StartContainerRequest.parser(), (ctx, q) -> start(q));
        server.registerUnary(SERVICE, "WaitProcess", WaitProcessRequest.parser(), (ctx, q) -> waitProcess(q));
        server.registerUnary(SERVICE, "SignalProcess", SignalProcessRequest.parser(), (ctx, q) -> signal(q));
        server.registerUnary(SERVICE, "WriteStdin", WriteStreamRequest.parser(), (ctx, q) -> writeStdin(q));
        server.registerUnary(SERVICE, "CloseStdin", CloseStdinRequest.parser(), (ctx, q) -> closeStdin(q));
        server.registerUnary(SERVICE, "ReadStdout", ReadStreamRequest.parser(), (ctx, q) -> read(q, true));
        server.registerUnary(SERVICE, "ReadStderr", ReadStreamRequest.parser(), (ctx, q) -> read(q, false));
        server.registerUnary(SERVICE, "RemoveContainer", RemoveContainerRequest.parser(), (ctx, q) -> remove(q));
        server.registerUnary(SERVICE, "ExecProcess", ExecProcessRequest.parser(), (ctx, q) -> exec(q));
        server.registerUnary(SERVICE, "RemoveProcess", RemoveProcessRequest.parser(), (ctx, q) -> removeProcess(q));
        server.registerUnary(SERVICE, "ResizePty", ResizePtyRequest.parser(), (ctx, q) -> resize(q));
        server.registerUnary(SERVICE, "PauseContainer", ContainerRequest.parser(), (ctx, q) -> pause(q));
        server.registerUnary(SERVICE, "ResumeContainer", ContainerRequest.parser(), (ctx, q) -> resume(q));
        server.registerUnary(SERVICE, "UpdateContainer", UpdateContainerRequest.parser(), (ctx, q) -> update(q));
        server.registerUnary(SERVICE, "StatsContainer", ContainerRequest.parser(), (ctx, q) -> stats(q));
        server.registerUnary(SERVICE, "ListProcesses", ContainerRequest.parser(), (ctx, q) -> processes(q));
        server.registerUnary(SERVICE, "GetOOMEvent", Empty.parser(), (ctx, q) -> oomEvent());
    }

    CheckResponse check() throws IOException {
        return CheckResponse.newBuilder()
                .setVersion(version)
                .setKernelRelease(readProc("kernel/osrelease"))
                .setBootId(initialized ? readProc("kernel/random/boot_id") : "")
                .build();
    }

    Empty initGuest(InitGuestRequest q) {
        init.apply(q);
        if (q.getTemplateWarmUp()) {
            new TemplateWarmUp(this, WARM_UP_ROOT).run();
            warmUpNetwork();
            trimNativeHeap();
        } else {
            initialized = true;
        }
        return Empty.getDefaultInstance();
    }

    /**
     * The last step of a template's warm-up: the JVM's freed native memory (its JIT's and class loading's buffers,
     * the warm-up's own) goes back to the guest kernel, which zeroes what it frees in a template VM
     * ({@code init_on_free=1}), so the pages are left out of the template's memory file and of every clone's copy:
     * 5 MiB less per clone (docs/benchmarks.md, "Guest lockdown and a trimmed agent heap").
     */
    void trimNativeHeap() {
        long started = System.nanoTime();
        try {
            boolean released = NativeHeap.trim();
            LOG.log(System.Logger.Level.INFO, "msg=\"native heap trimmed\" released={0} millis={1}", released,
                    (System.nanoTime() - started) / 1_000_000);
        } catch (RuntimeException | LinkageError e) { // a C library without malloc_trim: the template is only larger
            LOG.log(System.Logger.Level.WARNING, "msg=\"native heap not trimmed\" error=\"{0}\"", e.toString());
        }
    }

    /** The network part of a template's warm-up; a failure is logged: the template is then only slower to clone. */
    boolean warmUpNetwork() {
        long started = System.nanoTime();
        try {
            networkWarmUp.run();
            LOG.log(System.Logger.Level.INFO, "msg=\"template warm-up of the network done\" millis={0}",
                    (System.nanoTime() - started) / 1_000_000);
            return true;
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "msg=\"template warm-up of the network failed\" error=\"{0}\"",
                    e.getMessage());
            return false;
        }
    }

    CreateContainerResponse create(CreateContainerRequest q) {
        Container c = containers.create(new ContainerManager.CreateRequest(q.getContainerId(),
                q.getOciSpec().toByteArray(), q.getTerminal(), q.getStdin(), q.getStdout(), q.getStderr()));
        return CreateContainerResponse.newBuilder().setPid(c.initPid()).build();
    }

    StartContainerResponse start(StartContainerRequest q) {
        int pid = q.getExecId().isEmpty() ? containers.start(q.getContainerId()).initPid()
                : containers.startExec(q.getContainerId(), q.getExecId()).pid();
        return StartContainerResponse.newBuilder().setPid(pid).build();
    }

    /**
     * Answers after the exit and the end of the output (bounded: {@link ContainerProcess#exitWithOutput});
     * oom_killed when the container's cgroup counted an OOM kill since the process started (the host
     * then reports TaskOOM before the exit). With a timeout_ms, answers running = true once it passed
     * first, so the host's call carries a deadline however long the process runs.
     */
    WaitProcessResponse waitProcess(WaitProcessRequest q) throws InterruptedException {
        ContainerProcess p = process(q.getContainerId(), q.getExecId());
        ExitStatus status;
        try {
            status = q.getTimeoutMs() == 0 ? p.exitWithOutput().join()
                    : p.exitWithOutput().get(q.getTimeoutMs(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            return WaitProcessResponse.newBuilder().setRunning(true).build();
        } catch (ExecutionException e) {
            throw Errors.unknown(e.getCause(), "wait for %s", p.describe());
        }
        Container c = containers.get(q.getContainerId());
        long kills = c.cgroup() == null ? 0 : c.cgroup().oomKills();
        boolean oomKilled = kills > p.oomKillsAtStart();
        if (oomKilled) {
            oom.markReported(c, kills);
        }
        return WaitProcessResponse.newBuilder()
                .setExitStatus(status.status())
                .setExitedAt(Timestamp.newBuilder()
                        .setSeconds(status.exitedAt().getEpochSecond())
                        .setNanos(status.exitedAt().getNano()))
                .setOomKilled(oomKilled)
                .build();
    }

    Empty signal(SignalProcessRequest q) {
        if (q.getExecId().isEmpty()) {
            containers.signal(q.getContainerId(), q.getSignal(), q.getAll());
        } else {
            containers.signalExec(q.getContainerId(), q.getExecId(), q.getSignal());
        }
        return Empty.getDefaultInstance();
    }

    Empty exec(ExecProcessRequest q) {
        containers.exec(new ContainerManager.ExecRequest(q.getContainerId(), q.getExecId(),
                q.getProcess().toByteArray(), q.getTerminal(), q.getStdin(), q.getStdout(), q.getStderr()));
        return Empty.getDefaultInstance();
    }

    Empty removeProcess(RemoveProcessRequest q) {
        containers.removeExec(q.getContainerId(), q.getExecId());
        return Empty.getDefaultInstance();
    }

    Empty resize(ResizePtyRequest q) {
        ContainerProcess p = process(q.getContainerId(), q.getExecId());
        try {
            p.stdio().resize((int) Math.min(q.getHeight(), 0xffff), (int) Math.min(q.getWidth(), 0xffff));
        } catch (ErrnoException e) {
            throw Errors.unknown(e, "resize the terminal of %s", p.describe());
        }
        return Empty.getDefaultInstance();
    }

    Empty pause(ContainerRequest q) {
        containers.pause(q.getContainerId());
        return Empty.getDefaultInstance();
    }

    Empty resume(ContainerRequest q) {
        containers.resume(q.getContainerId());
        return Empty.getDefaultInstance();
    }

    Empty update(UpdateContainerRequest q) {
        containers.update(q.getContainerId(), q.getResources().toByteArray());
        return Empty.getDefaultInstance();
    }

    StatsContainerResponse stats(ContainerRequest q) throws IOException {
        Container c = containers.get(q.getContainerId());
        if (c.cgroup() == null) {
            throw Errors.notFound("stats of container %s: its cgroup is unknown", c.id());
        }
        return StatsContainerResponse.newBuilder().setMetrics(CgroupMetrics.of(c.cgroup())).build();
    }

    /** The pids of the container's cgroup; an exec's main process carries its exec id. */
    ListProcessesResponse processes(ContainerRequest q) throws IOException {
        Container c = containers.get(q.getContainerId());
        java.util.Map<Integer, String> execIds = new java.util.HashMap<>();
        for (ExecProcess e : c.execs()) {
            if (e.pid() > 0) {
                execIds.put(e.pid(), e.execId());
            }
        }
        java.util.List<Integer> pids = c.cgroup() == null ? java.util.List.of(c.initPid()) : c.cgroup().pids();
        ListProcessesResponse.Builder response = ListProcessesResponse.newBuilder();
        for (int pid : pids) {
            response.addProcesses(GuestProcess.newBuilder().setPid(pid).setExecId(execIds.getOrDefault(pid, "")));
        }
        return response.build();
    }

    GetOOMEventResponse oomEvent() throws InterruptedException {
        return GetOOMEventResponse.newBuilder().setContainerId(oom.next()).build();
    }

    WriteStreamResponse writeStdin(WriteStreamRequest q) {
        ContainerProcess c = process(q.getContainerId(), q.getExecId());
        if (!c.stdio().stdinWanted()) {
            throw Errors.failedPrecondition("write stdin of %s: it was created without stdin", c.describe());
        }
        try {
            c.stdio().writeStdin(q.getData().toByteArray());
        } catch (IOException e) {
            throw Errors.withCause(Code.FAILED_PRECONDITION, e, "write stdin of %s", c.describe());
        }
        return WriteStreamResponse.newBuilder().setLen(q.getData().size()).build();
    }

    Empty closeStdin(CloseStdinRequest q) {
        ContainerProcess c = process(q.getContainerId(), q.getExecId());
        try {
            c.stdio().closeStdin();
        } catch (IOException e) {
            throw Errors.unknown(e, "close stdin of %s", c.describe());
        }
        return Empty.getDefaultInstance();
    }

    ReadStreamResponse read(ReadStreamRequest q, boolean stdout) throws InterruptedException {
        ContainerProcess c = process(q.getContainerId(), q.getExecId());
        StreamBuffer buffer = stdout ? c.stdio().stdout() : c.stdio().stderr();
        if (buffer == null) {
            return ReadStreamResponse.newBuilder().setEof(true).build();
        }
        int max = q.getMaxLen() == 0 ? MAX_READ : Math.min(q.getMaxLen(), MAX_READ);
        StreamBuffer.Chunk chunk = q.getTimeoutMs() == 0 ? buffer.read(max)
                : buffer.read(max, q.getTimeoutMs(), TimeUnit.MILLISECONDS);
        return ReadStreamResponse.newBuilder().setData(ByteString.copyFrom(chunk.data())).setEof(chunk.eof()).build();
    }

    Empty remove(RemoveContainerRequest q) {
        containers.remove(q.getContainerId());
        return Empty.getDefaultInstance();
    }

    private ContainerProcess process(String containerId, String execId) {
        Container c = containers.get(containerId);
        return execId.isEmpty() ? c : c.exec(execId);
    }

    private String readProc(String name) throws IOException {
        return Files.readString(procSys.resolve(name), StandardCharsets.US_ASCII).strip();
    }
}
