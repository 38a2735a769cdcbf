package io.javakata.guest;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import com.google.protobuf.ByteString;
import com.google.protobuf.Empty;
import com.google.protobuf.Message;
import com.google.protobuf.Parser;

import io.javakata.agent.v1.CheckRequest;
import io.javakata.agent.v1.CheckResponse;
import io.javakata.agent.v1.CloseStdinRequest;
import io.javakata.agent.v1.CreateContainerRequest;
import io.javakata.agent.v1.ContainerRequest;
import io.javakata.agent.v1.CreateContainerResponse;
import io.javakata.agent.v1.ExecProcessRequest;
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
import io.javakata.debugconsole.DebugConsoleProtocol;
import io.javakata.hypervisor.Accelerator;
import io.javakata.hypervisor.AgentEndpoint;
import io.javakata.hypervisor.VmSpec;
import io.javakata.hypervisor.qemu.QemuHypervisor;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;
import io.javakata.ttrpc.TtrpcClient;
import io.javakata.ttrpc.transport.SerialTransport;

/**
 * Boots the guest kernel and initrd under QEMU with virtiofsd, and drives the agent over
 * virtio-serial: a container's stdout, stderr and exit status, a missing executable, removal, the debug
 * console, and nothing left running afterwards. The VM is the one the shim would start: the hypervisor
 * module's {@link QemuHypervisor} with its command line for a {@link VmSpec} (KVM where the host has it,
 * else TCG). Kernel and initrd come from {@code javakata.test.kernel} / {@code javakata.test.initrd}, by
 * default {@code build/guest/} of the repository (built by make).
 */
@Tag("qemu")
@Timeout(300)
class GuestVmIT {

    private static final String SERVICE = "javakata.agent.v1.Agent";
    private static final String QEMU = "/usr/bin/qemu-system-x86_64";
    private static final String VIRTIOFSD = "/usr/lib/qemu/virtiofsd";
    private static final Duration CALL = Duration.ofSeconds(60);

    @TempDir
    Path tmp;

    private Path kernel;
    private Path initrd;
    private Path agentImage;
    private QemuHypervisor vm;
    private TtrpcClient client;

    @AfterEach
    void tearDown() throws Exception {
        if (client != null) {
            client.close();
        }
        if (vm == null) {
            return;
        }
        Path console = vm.paths().consoleLog();
        if (Files.exists(console)) {
            // Kept for whoever reads a failure: the guest's init and agent log lines.
            Files.copy(console, Path.of("target/guest-vm-console.log"), StandardCopyOption.REPLACE_EXISTING);
        }
        vm.stop(Duration.ofSeconds(10));
        assertTrue(vm.onExit().isDone(), "QEMU left running");
        assertEquals(0, ProcessHandle.current().children().filter(ProcessHandle::isAlive).count(),
                "child processes left behind");
    }

    @Test
    void runsContainersInTheGuest() throws Exception {
        long launched = System.nanoTime();
        CheckResponse check = boot("c1", "c2", "c3", "c4");
        long bootMillis = (System.nanoTime() - launched) / 1_000_000;
        System.out.printf("guest: VM launch to Check answered %d ms (%s); initrd %d bytes; kernel %s%n",
                bootMillis, vm.accelerator().accelerator(), Files.size(initrd), check.getKernelRelease());
        Files.readAllLines(vm.paths().consoleLog()).stream()
                .filter(l -> l.startsWith("javakata-init:") || l.contains("agent ready"))
                .forEach(l -> System.out.println("guest console: " + l));
        assertEquals(Files.readString(kernel.resolveSibling("kernel-release")).strip(),
                check.getKernelRelease());
        assertEquals("", check.getBootId(), "no boot id before InitGuest");
        byte[] entropy = new byte[64];
        new java.security.SecureRandom().nextBytes(entropy);
        // What a template VM gets right before its save: the guest does not count as initialised after it.
        call("InitGuest", io.javakata.agent.v1.InitGuestRequest.newBuilder()
                .setEntropy(com.google.protobuf.ByteString.copyFrom(entropy))
                .setRealtimeNanos(System.currentTimeMillis() * 1_000_000L).setTemplateWarmUp(true).build(),
                com.google.protobuf.Empty.parser(), CALL);
        assertEquals("", call("Check", CheckRequest.getDefaultInstance(), CheckResponse.parser(), CALL).getBootId(),
                "no boot id after a template's warm-up InitGuest");
        // It ran the agent's own container to its end and removed it before answering.
        assertTrue(Files.readAllLines(vm.paths().consoleLog()).stream().anyMatch(l ->
                l.contains("msg=\"template warm-up container ran\" ok=true")), "the warm-up container's line");
        RuntimeStatusException warmUpGone = assertThrows(RuntimeStatusException.class, () -> call("StatsContainer",
                io.javakata.agent.v1.ContainerRequest.newBuilder().setContainerId("javakata-template-warm-up").build(),
                io.javakata.agent.v1.StatsContainerResponse.parser(), CALL));
        assertEquals(Code.NOT_FOUND, warmUpGone.code(), warmUpGone.getMessage());
        new java.security.SecureRandom().nextBytes(entropy);
        call("InitGuest", io.javakata.agent.v1.InitGuestRequest.newBuilder()
                .setEntropy(com.google.protobuf.ByteString.copyFrom(entropy))
                .setRealtimeNanos(System.currentTimeMillis() * 1_000_000L).build(),
                com.google.protobuf.Empty.parser(), CALL);
        check = call("Check", CheckRequest.getDefaultInstance(), CheckResponse.parser(), CALL);
        assertEquals(36, check.getBootId().length(), check.getBootId());

        CreateContainerResponse created = call("CreateContainer", create("c1",
                "echo out; echo err >&2; exit 3"), CreateContainerResponse.parser(), CALL);
        assertTrue(created.getPid() > 1);
        StartContainerResponse started = call("StartContainer",
                StartContainerRequest.newBuilder().setContainerId("c1").build(), StartContainerResponse.parser(), CALL);
        assertEquals(created.getPid(), started.getPid());
        assertEquals("out\n", readAll("ReadStdout", "c1"));
        assertEquals("err\n", readAll("ReadStderr", "c1"));
        WaitProcessResponse exit = call("WaitProcess", WaitProcessRequest.newBuilder().setContainerId("c1").build(),
                WaitProcessResponse.parser(), CALL);
        assertEquals(3, exit.getExitStatus());
        RuntimeStatusException finished = assertThrows(RuntimeStatusException.class, () -> call("SignalProcess",
                SignalProcessRequest.newBuilder().setContainerId("c1").setSignal(15).build(), Empty.parser(), CALL));
        assertEquals(Code.NOT_FOUND, finished.code());

        RuntimeStatusException missing = assertThrows(RuntimeStatusException.class, () -> call("CreateContainer",
                create("c2", null), CreateContainerResponse.parser(), CALL));
        System.out.println("guest: missing executable -> " + missing);
        // crun's own words: "executable file `nosuchcommand` not found in $PATH: No such file or directory".
        assertTrue(missing.getMessage().contains("crun create c2 failed")
                && missing.getMessage().contains("`nosuchcommand` not found in $PATH"), missing.getMessage());

        // stdin: the container reads what the host writes, and sees end of file on CloseStdin.
        call("CreateContainer", create("c3", "read line; echo got $line; cat; echo done").toBuilder().setStdin(true)
                .build(), CreateContainerResponse.parser(), CALL);
        call("StartContainer", StartContainerRequest.newBuilder().setContainerId("c3").build(),
                StartContainerResponse.parser(), CALL);
        call("WriteStdin", WriteStreamRequest.newBuilder().setContainerId("c3")
                .setData(ByteString.copyFromUtf8("hello\nrest\n")).build(), WriteStreamResponse.parser(), CALL);
        call("CloseStdin", CloseStdinRequest.newBuilder().setContainerId("c3").build(), Empty.parser(), CALL);
        assertEquals("got hello\nrest\ndone\n", readAll("ReadStdout", "c3"));
        assertEquals(0, call("WaitProcess", WaitProcessRequest.newBuilder().setContainerId("c3").build(),
                WaitProcessResponse.parser(), CALL).getExitStatus());

        // A signal ends a running container; the exit says which (128 + 9).
        call("CreateContainer", create("c4", "sleep 600"), CreateContainerResponse.parser(), CALL);
        call("StartContainer", StartContainerRequest.newBuilder().setContainerId("c4").build(),
                StartContainerResponse.parser(), CALL);
        call("SignalProcess", SignalProcessRequest.newBuilder().setContainerId("c4").setSignal(9).build(),
                Empty.parser(), CALL);
        assertEquals(137, call("WaitProcess", WaitProcessRequest.newBuilder().setContainerId("c4").build(),
                WaitProcessResponse.parser(), CALL).getExitStatus());

        for (String id : List.of("c1", "c3", "c4")) {
            call("RemoveContainer", RemoveContainerRequest.newBuilder().setContainerId(id).build(), Empty.parser(),
                    CALL);
        }
        RuntimeStatusException gone = assertThrows(RuntimeStatusException.class, () -> call("WaitProcess",
                WaitProcessRequest.newBuilder().setContainerId("c1").build(), WaitProcessResponse.parser(), CALL));
        assertEquals(Code.NOT_FOUND, gone.code());
        // The host goes away and comes back at once (a restarted shim), a few times: the agent serves each
        // new host, and no request is lost on the way.
        for (int round = 0; round < 6; round++) {
            client.close();
            client = new TtrpcClient(new SerialTransport(agentSocket()).connect(Duration.ofSeconds(20)));
            assertEquals(check.getBootId(), call("Check", CheckRequest.getDefaultInstance(), CheckResponse.parser(),
                    Duration.ofSeconds(20)).getBootId(), "Check after reconnect " + round);
        }
        assertFalse(vm.onExit().isDone(), "the VM must still run: " + Files.readString(vm.paths().consoleLog()));

        // The debug console: a shell in the guest's root namespaces (it sees the agent as PID 1 and the
        // pod's share), one per session; its exit status ends the session.
        String first = console("echo marker-$((6*7)); cat /proc/1/comm; ls /run/javakata/shared\nexit 5\n",
                DebugConsoleProtocol.END_PREFIX + "5]");
        assertTrue(first.contains("marker-42"), first);
        assertTrue(first.contains("\njava") && first.contains("c4"), "outside every container: " + first);
        // A host that goes away hangs its shell up, with what it started; the next session gets a new shell, even
        // when it connects before the guest saw the previous one go (its session start sequence says so).
        console("sleep 601 & echo started-$((1+1))\n", "started-2");
        String second = console("ps -o pid,args | grep -c '[s]leep 601'; exit 0\n", DebugConsoleProtocol.END_PREFIX + "0]");
        assertTrue(second.contains("\n0\r\n"), "the first session's sleep is gone: " + second);
        assertTrue(!second.contains(DebugConsoleProtocol.END_PREFIX + "137]"), "the hung-up shell's end is not the "
                + "next session's: " + second);

        // The agent image is mapped from the host with DAX, read-only. Root in the guest writes to the device and
        // remounts it read-write to plant a file: the host's image does not change.
        String before = sha256(agentImage);
        String attack = console("grep ' /opt ' /proc/mounts; "
                + "dd if=/dev/urandom of=/dev/pmem0 bs=4096 count=16 conv=fsync; echo dd=$?; "
                + "mount -o remount,rw /opt && echo planted > /opt/agent/planted; echo plant=$?; sync; "
                + "echo attack-$((2*3)); exit 0\n", DebugConsoleProtocol.END_PREFIX + "0]");
        assertTrue(attack.contains("/dev/pmem0 /opt ext4 ro,") && attack.contains("dax"), attack);
        assertTrue(attack.contains("attack-6"), attack);
        assertEquals(before, sha256(agentImage), "the guest changed the host's agent image: " + attack);
    }

    private static String sha256(Path file) throws Exception {
        try (var in = Files.newInputStream(file)) {
            var digest = java.security.MessageDigest.getInstance("SHA-256");
            byte[] buffer = new byte[1 << 16];
            for (int n; (n = in.read(buffer)) > 0; ) {
                digest.update(buffer, 0, n);
            }
            return java.util.HexFormat.of().formatHex(digest.digest());
        }
    }

    /** Sends {@code input} on a new debug console session and returns what came back up to {@code until}. */
    private String console(String input, String until) throws Exception {
        try (SocketChannel channel = SocketChannel.open(UnixDomainSocketAddress.of(vm.paths().debugConsoleSocket()))) {
            StringBuffer out = new StringBuffer();
            Thread reader = Thread.ofVirtual().start(() -> {
                ByteBuffer buffer = ByteBuffer.allocate(4096);
                try {
                    while (channel.read(buffer.clear()) >= 0) {
                        out.append(new String(buffer.array(), 0, buffer.position(), UTF_8));
                    }
                } catch (IOException e) {
                    // closed below
                }
            });
            channel.write(ByteBuffer.wrap(DebugConsoleProtocol.SESSION_START));
            channel.write(ByteBuffer.wrap(input.getBytes(UTF_8)));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!out.toString().contains(until)) {
                assertTrue(System.nanoTime() < deadline, "debug console: no " + until + " within 60 s: " + out);
                Thread.sleep(50);
            }
            channel.close();
            reader.join(Duration.ofSeconds(10));
            System.out.println("guest: debug console " + out.toString().replace("\r", "\\r").replace("\n", "\\n"));
            return out.toString();
        }
    }

    /**
     * Boots the guest with a busybox rootfs for each id, through the hypervisor module as the shim does (with
     * the debug console port, whose name the agent listens on); returns the Check answer.
     */
    private CheckResponse boot(String... ids) throws Exception {
        Path repo = Path.of(System.getProperty("javakata.repo", "..")).toAbsolutePath().normalize();
        kernel = Path.of(System.getProperty("javakata.test.kernel", repo.resolve("build/guest/vmlinuz").toString()));
        initrd = Path.of(System.getProperty("javakata.test.initrd", repo.resolve("build/guest/initrd.img").toString()));
        agentImage = Path.of(System.getProperty("javakata.test.agent-image",
                repo.resolve("build/guest/agent.img").toString()));
        assertTrue(Files.isReadable(kernel) && Files.isReadable(initrd) && Files.isReadable(agentImage),
                "guest assets missing: " + kernel + ", " + initrd + ", " + agentImage
                        + " (run: guest/image/build.sh --agent-jar "
                        + "guest/target/javakata-agent.jar --out build/guest)");
        assertEquals(DebugConsoleProtocol.PORT_NAME, QemuHypervisor.DEBUG_CONSOLE_PORT_NAME,
                "the port the agent serves the debug console on is the one the VM gets");
        Path shared = tmp.resolve("shared");
        for (String id : ids) {
            busyboxRootfs(shared.resolve(id + "/rootfs"));
        }
        VmSpec spec = new VmSpec("guest-it", Files.createDirectories(tmp.resolve("vm")), Path.of(QEMU), kernel,
                initrd, "", 1, 512, Accelerator.AUTO, "q35",
                new VmSpec.SharedFs("javakata", shared, Path.of(VIRTIOFSD), "auto"), VmSpec.AgentChannel.SERIAL,
                Duration.ofSeconds(60)).withDebugConsole(true).withAgentImage(VmSpec.AgentImage.of(agentImage));
        vm = new QemuHypervisor(spec, tmp.resolve("run/kvm-probe.json"));
        vm.start();
        assertEquals(new AgentEndpoint.Serial(agentSocket(), QemuHypervisor.AGENT_PORT_NAME), vm.agentEndpoint());
        client = new TtrpcClient(new SerialTransport(agentSocket()).connect(Duration.ofSeconds(20)));
        return call("Check", CheckRequest.getDefaultInstance(), CheckResponse.parser(), Duration.ofSeconds(120));
    }

    private Path agentSocket() {
        return vm.paths().agentSocket();
    }

    /**
     * Exec (FIFO and terminal, with resize), processes, pause/resume, update, stats, and the OOM
     * killer, against the real crun, cgroup v2 and devpts in the guest.
     */
    @Test
    void execTerminalCgroupsAndOomInTheGuest() throws Exception {
        boot("t1", "oom1");
        call("CreateContainer", withCgroup(create("t1", "sleep 600"), "t1", 0), CreateContainerResponse.parser(), CALL);
        int initPid = call("StartContainer", StartContainerRequest.newBuilder().setContainerId("t1").build(),
                StartContainerResponse.parser(), CALL).getPid();

        call("ExecProcess", exec("t1", "e1", false, "echo out $$; echo err >&2; exit 4"), Empty.parser(), CALL);
        RuntimeStatusException dup = assertThrows(RuntimeStatusException.class, () -> call("ExecProcess",
                exec("t1", "e1", false, "true"), Empty.parser(), CALL));
        assertEquals(Code.ALREADY_EXISTS, dup.code());
        int execPid = call("StartContainer", StartContainerRequest.newBuilder().setContainerId("t1").setExecId("e1")
                .build(), StartContainerResponse.parser(), CALL).getPid();
        assertTrue(execPid > initPid, execPid + " > " + initPid);
        String out = readAll("ReadStdout", "t1", "e1");
        assertTrue(out.matches("out \\d\n"), "a small pid: the container's pid namespace: " + out);
        assertEquals("err\n", readAll("ReadStderr", "t1", "e1"));
        assertEquals(4, call("WaitProcess", WaitProcessRequest.newBuilder().setContainerId("t1").setExecId("e1")
                .build(), WaitProcessResponse.parser(), CALL).getExitStatus());
        call("RemoveProcess", RemoveProcessRequest.newBuilder().setContainerId("t1").setExecId("e1").build(),
                Empty.parser(), CALL);

        // A terminal: the window size set by ResizePty is what stty reads; stdin is the pty.
        call("ExecProcess", exec("t1", "tty1", true, "read x; stty size; echo got $x").toBuilder().setStdin(true)
                .build(), Empty.parser(), CALL);
        call("StartContainer", StartContainerRequest.newBuilder().setContainerId("t1").setExecId("tty1").build(),
                StartContainerResponse.parser(), CALL);
        call("ResizePty", ResizePtyRequest.newBuilder().setContainerId("t1").setExecId("tty1").setWidth(132)
                .setHeight(40).build(), Empty.parser(), CALL);
        call("WriteStdin", WriteStreamRequest.newBuilder().setContainerId("t1").setExecId("tty1")
                .setData(ByteString.copyFromUtf8("go\n")).build(), WriteStreamResponse.parser(), CALL);
        String tty = readAll("ReadStdout", "t1", "tty1");
        System.out.println("guest: tty exec output " + tty.replace("\r", "\\r").replace("\n", "\\n"));
        assertTrue(tty.contains("40 132\r\n") && tty.contains("got go\r\n"), tty);
        assertEquals(0, call("WaitProcess", WaitProcessRequest.newBuilder().setContainerId("t1").setExecId("tty1")
                .build(), WaitProcessResponse.parser(), CALL).getExitStatus());

        ListProcessesResponse ps = call("ListProcesses", ContainerRequest.newBuilder().setContainerId("t1").build(),
                ListProcessesResponse.parser(), CALL);
        assertEquals(List.of(initPid), ps.getProcessesList().stream().map(p -> p.getPid()).toList());

        call("PauseContainer", ContainerRequest.newBuilder().setContainerId("t1").build(), Empty.parser(), CALL);
        call("ResumeContainer", ContainerRequest.newBuilder().setContainerId("t1").build(), Empty.parser(), CALL);
        call("UpdateContainer", UpdateContainerRequest.newBuilder().setContainerId("t1")
                .setResources(ByteString.copyFromUtf8("{\"memory\":{\"limit\":67108864}}")).build(),
                Empty.parser(), CALL);
        StatsContainerResponse stats = call("StatsContainer", ContainerRequest.newBuilder().setContainerId("t1")
                .build(), StatsContainerResponse.parser(), CALL);
        System.out.println("guest: t1 memory usage " + stats.getMetrics().getMemory().getUsage() + " bytes, limit "
                + stats.getMetrics().getMemory().getUsageLimit() + ", cpu " + stats.getMetrics().getCpu().getUsageUsec()
                + " us, pids " + stats.getMetrics().getPids().getCurrent());
        assertEquals(67108864, stats.getMetrics().getMemory().getUsageLimit(), "the update reached memory.max");
        assertTrue(stats.getMetrics().getMemory().getUsage() > 0);
        assertEquals(1, stats.getMetrics().getPids().getCurrent());
        call("SignalProcess", SignalProcessRequest.newBuilder().setContainerId("t1").setSignal(9).build(),
                Empty.parser(), CALL);
        WaitProcessResponse killed = call("WaitProcess", WaitProcessRequest.newBuilder().setContainerId("t1").build(),
                WaitProcessResponse.parser(), CALL);
        assertEquals(137, killed.getExitStatus());
        assertFalse(killed.getOomKilled(), "SIGKILL is not the OOM killer");
        RuntimeStatusException late = assertThrows(RuntimeStatusException.class, () -> call("ExecProcess",
                exec("t1", "e2", false, "true"), Empty.parser(), CALL));
        assertEquals(Code.FAILED_PRECONDITION, late.code());

        // OOM: 32 MiB of memory.max, a shell that buffers 100 MiB.
        call("CreateContainer", withCgroup(create("oom1", "x=$(yes aaaaaaaaaaaaaaaa | head -c 100m); echo ${#x}"),
                "oom1", 32L << 20), CreateContainerResponse.parser(), CALL);
        call("StartContainer", StartContainerRequest.newBuilder().setContainerId("oom1").build(),
                StartContainerResponse.parser(), CALL);
        WaitProcessResponse oom = call("WaitProcess", WaitProcessRequest.newBuilder().setContainerId("oom1").build(),
                WaitProcessResponse.parser(), Duration.ofSeconds(180));
        System.out.println("guest: oom1 exit " + oom.getExitStatus() + " oom_killed " + oom.getOomKilled());
        assertTrue(oom.getOomKilled(), "memory.events oom_kill grew");
        assertEquals(137, oom.getExitStatus());
        for (String id : List.of("t1", "oom1")) {
            call("RemoveContainer", RemoveContainerRequest.newBuilder().setContainerId(id).build(), Empty.parser(),
                    CALL);
        }
    }

    /**
     * {@link #create} with a cgroup of its own ({@code /jk/<id>}), /dev/pts for terminals and, when
     * {@code memoryLimit} > 0, a memory limit.
     */
    private static CreateContainerRequest withCgroup(CreateContainerRequest request, String id, long memoryLimit) {
        String resources = memoryLimit > 0 ? ", \"resources\": {\"memory\": {\"limit\": " + memoryLimit + "}}" : "";
        String spec = request.getOciSpec().toStringUtf8()
                .replace("\"linux\": {", "\"linux\": {\"cgroupsPath\": \"/jk/" + id + "\"" + resources + ", ")
                .replace("\"size=65536k\"]}", "\"size=65536k\"]}, {\"destination\": \"/dev/pts\", "
                        + "\"type\": \"devpts\", \"source\": \"devpts\", \"options\": [\"nosuid\", \"noexec\", "
                        + "\"newinstance\", \"ptmxmode=0666\", \"mode=0620\"]}");
        return request.toBuilder().setOciSpec(ByteString.copyFromUtf8(spec)).build();
    }

    private static ExecProcessRequest exec(String id, String execId, boolean terminal, String script) {
        String process = """
                {"terminal": %s, "user": {"uid": 0, "gid": 0}, "args": ["sh", "-c", "%s"],
                 "env": ["PATH=/bin", "TERM=xterm"], "cwd": "/"}
                """.formatted(terminal, script.replace("\"", "\\\""));
        return ExecProcessRequest.newBuilder().setContainerId(id).setExecId(execId)
                .setProcess(ByteString.copyFromUtf8(process)).setTerminal(terminal)
                .setStdout(true).setStderr(!terminal).build();
    }

    /** The CreateContainer request; a null script runs a command found nowhere in PATH. */
    private static CreateContainerRequest create(String id, String script) {
        String args = script == null ? "[\"nosuchcommand\"]"
                : "[\"sh\", \"-c\", \"" + script.replace("\"", "\\\"") + "\"]";
        String spec = """
                {"ociVersion": "1.0.2",
                 "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "args": %s,
                             "env": ["PATH=/bin"], "cwd": "/"},
                 "root": {"path": "/run/javakata/shared/%s/rootfs"},
                 "hostname": "%s",
                 "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}],
                 "linux": {"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"},
                                          {"type": "mount"}, {"type": "network"}]}}
                """.formatted(args, id, id);
        return CreateContainerRequest.newBuilder().setContainerId(id).setOciSpec(ByteString.copyFromUtf8(spec))
                .setStdout(true).setStderr(true).build();
    }

    private String readAll(String method, String id) {
        return readAll(method, id, "");
    }

    private String readAll(String method, String id, String execId) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        while (true) {
            ReadStreamResponse r = call(method, ReadStreamRequest.newBuilder().setContainerId(id).setExecId(execId)
                    .setMaxLen(4096).build(), ReadStreamResponse.parser(), CALL);
            if (r.getEof()) {
                return out.toString(UTF_8);
            }
            out.writeBytes(r.getData().toByteArray());
        }
    }

    private <R extends Message> R call(String method, Message request, Parser<R> parser, Duration timeout) {
        return client.call(SERVICE, method, request, parser, timeout);
    }

    private static void busyboxRootfs(Path rootfs) throws IOException, InterruptedException {
        Files.createDirectories(rootfs.resolve("bin"));
        for (String dir : List.of("proc", "dev", "sys", "tmp", "etc")) {
            Files.createDirectories(rootfs.resolve(dir));
        }
        Files.copy(Path.of("/bin/busybox"), rootfs.resolve("bin/busybox"));
        Process list = new ProcessBuilder("/bin/busybox", "--list").redirectErrorStream(true).start();
        String applets = new String(list.getInputStream().readAllBytes(), UTF_8);
        assertEquals(0, list.waitFor());
        for (String applet : applets.split("\n")) {
            if (!applet.isBlank() && !applet.equals("busybox")) {
                Files.createSymbolicLink(rootfs.resolve("bin").resolve(applet.strip()), Path.of("busybox"));
            }
        }
    }
}
