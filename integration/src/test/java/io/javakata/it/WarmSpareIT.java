package io.javakata.it;

import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Warm spare VMs through CRI (docs/architecture.md, "Warm spare VMs"), with the private containerd's
 * {@code javakata-spare} handler ({@code [runtime] warm_shims = 1}, {@code [template] spares = true}). The first pod's
 * shim starts a warm shim, which restores a spare VM from the handler's template under the state dir's
 * {@code spares/<its pid>/} and rehearses in it. The second pod's shim is that warm shim, and its sandbox takes the
 * spare's QEMU as its VM: containerd's log says so, the spare's directory is gone, the QEMU runs in the pod's host
 * cgroup, the pod's NIC was hot-plugged into the running guest (its container has the pod's IP), and its container's
 * log and exec work. Once the pod is removed its VM is gone. A warm shim killed while it holds a spare leaves the
 * spare's journal, from which the next spare's start sweeps its VM's processes, cgroup, mounts and directory. At the
 * end the test kills the warm shims left and cleans up their spares with {@code spares rm}
 * (PrivateContainerd#stopWarmShims), and nothing else is left.
 */
@Tag("containerd")
@Tag("qemu")
@Tag("cri")
@Timeout(value = 900, unit = TimeUnit.SECONDS)
class WarmSpareIT {

    static final String HANDLER = "javakata-spare";
    /** A warm shim's rehearsal, then its spare's restore and rehearsal under TCG. */
    private static final Duration SPARE_WAIT = Duration.ofSeconds(180);
    private static final Duration LOG_WAIT = Duration.ofSeconds(120);
    private static final String QEMU = "qemu-system-x86_64";

    @RegisterExtension
    static final PrivateCri CRI = new PrivateCri();

    @Test
    void aPodTakesASpareVmAndASpareOfAKilledShimIsSwept() throws Exception {
        Path warm = CRI.containerd().dir().resolve("warm");
        try {
            try (Pod first = CRI.runPod(CRI.podConfig("spare-1", UnaryOperator.identity()), HANDLER,
                    Duration.ofSeconds(360))) {
                long spareShim = awaitReadySpare(warm, -1);
                Path spareDir = PrivateContainerd.SPARES.resolve(Long.toString(spareShim));
                List<Long> spareQemu = processesIn(QEMU, spareDir);
                assertEquals(1, spareQemu.size(), "one QEMU runs the spare VM");
                long qemu = spareQemu.getFirst();

                try (Pod second = CRI.runPod(CRI.podConfig("spare-2", UnaryOperator.identity()), HANDLER,
                        Duration.ofSeconds(180))) {
                    assertEquals(spareShim, shimPid(second), "the second pod's shim is the warm shim");
                    assertTrue(logged("sandbox " + second.id() + ": took spare VM spare-" + spareShim),
                            "containerd's log says the pod took the spare VM");
                    assertFalse(Files.exists(spareDir), "the spare's directory became the pod's");
                    assertTrue(Files.isDirectory(CRI.containerd().sandboxDir(second.id())));
                    assertTrue(alive(qemu), "the spare's QEMU is the pod's VM");
                    String cgroupsPath = new ObjectMapper().readTree(CRI.containerd().bundle(second.id())
                            .resolve("config.json").toFile()).path("linux").path("cgroupsPath").asText("");
                    if (cgroupsPath.startsWith("/")) {
                        assertTrue(Files.readString(Path.of("/proc/" + qemu + "/cgroup")).contains("::" + cgroupsPath),
                                "the VM's QEMU moved into the pod's host cgroup " + cgroupsPath);
                    }

                    String app = second.run("app", "sh", "-c", "echo spare app; sleep 3600");
                    second.awaitLog("app", l -> l.endsWith(" stdout F spare app"), LOG_WAIT);
                    String ip = second.status().getNetwork().getIp();
                    assertFalse(ip.isEmpty(), "CNI gave the pod an IP");
                    String addresses = second.execOk(app, "ip", "-4", "-o", "addr", "show");
                    assertTrue(addresses.contains(" " + ip + "/"), "the pod's NIC, hot-plugged into the running "
                            + "guest, has the pod's IP " + ip + ": " + addresses);
                    assertEquals("exec\n", second.execOk(app, "echo", "exec"));
                }
                Await.until("the adopted VM's QEMU is gone with its pod", LOG_WAIT, () -> !alive(qemu));

                // The adopted shim started the next warm shim, which made a spare of its own. Killed, it leaves its
                // spare's journal, and its VM's QEMU runs on (it lost the parent-death signal when it switched to
                // run_as, as a pod's does) until the next spare's start sweeps it from the journal.
                long next = awaitReadySpare(warm, spareShim);
                Path deadDir = PrivateContainerd.SPARES.resolve(Long.toString(next));
                List<Long> deadVm = processesIn("", deadDir);
                assertFalse(deadVm.isEmpty(), "the next spare's VM runs");
                ProcessHandle.of(next).ifPresent(ProcessHandle::destroyForcibly);
                Await.until("the killed warm shim is gone", LOG_WAIT, () -> !alive(next));
                assertTrue(Files.exists(deadDir.resolve("sandbox.json")), "the dead spare's journal stays");

                try (Pod third = CRI.runPod(CRI.podConfig("spare-3", UnaryOperator.identity()), HANDLER,
                        Duration.ofSeconds(180))) {
                    assertNotEquals(next, shimPid(third));
                    third.run("app", "sh", "-c", "echo third; sleep 3600");
                    third.awaitLog("app", l -> l.endsWith(" stdout F third"), LOG_WAIT);
                    awaitReadySpare(warm, next);
                    assertFalse(Files.exists(deadDir), "the next spare's start swept the dead spare");
                    assertEquals(List.of(), PrivateContainerd.mountsUnder(deadDir));
                    assertEquals(List.of(), deadVm.stream().filter(WarmSpareIT::alive).toList(),
                            "the dead spare's VM processes, killed by the sweep");
                    assertFalse(Files.exists(Path.of("/sys/fs/cgroup/javakata-spares/" + next)),
                            "the dead spare's host cgroup");
                }
            }
        } catch (Throwable t) {
            try {
                CRI.containerd().stopWarmShims();
            } catch (Throwable cleanup) {
                t.addSuppressed(cleanup);
            }
            throw t;
        }
        CRI.containerd().stopWarmShims();
        assertEquals(List.of(), spareDirectories(), "no spare VM directory left");
    }

    /** Waits until a warm shim other than {@code not} is ready with its spare VM made; its pid. */
    private static long awaitReadySpare(Path warm, long not) throws Exception {
        var ready = new java.util.concurrent.atomic.AtomicLong();
        Await.until("a warm shim ready with a spare VM", SPARE_WAIT, () -> {
            warmDirectories(warm).stream().filter(d -> Files.exists(d.resolve("ready")))
                    .map(d -> Long.parseLong(d.getFileName().toString()))
                    .filter(pid -> pid != not && alive(pid))
                    .filter(pid -> Files.exists(PrivateContainerd.SPARES.resolve(pid + "/sandbox.json")))
                    .findFirst().ifPresent(ready::set);
            return ready.get() != 0;
        });
        return ready.get();
    }

    /** This containerd's processes named {@code name} whose command line names a path under {@code dir}. */
    private static List<Long> processesIn(String name, Path dir) throws IOException {
        String prefix = dir + "/";
        return CRI.containerd().processes(name).stream()
                .filter(pid -> PrivateContainerd.cmdline(pid).contains(prefix)).toList();
    }

    /** The pid in the pod's sandbox bundle's shim.pid. */
    private static long shimPid(Pod pod) throws IOException {
        return Long.parseLong(Files.readString(CRI.containerd().bundle(pod.id()).resolve("shim.pid")).strip());
    }

    private static boolean logged(String text) throws IOException {
        try (Stream<String> lines = Files.lines(CRI.containerd().log())) {
            return lines.anyMatch(l -> l.contains(text));
        }
    }

    /** Whether {@code pid} runs: exists and is not a zombie. */
    private static boolean alive(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            return stat.charAt(stat.lastIndexOf(')') + 2) != 'Z';
        } catch (IOException e) {
            return false;
        }
    }

    private static List<Path> warmDirectories(Path warm) throws IOException {
        if (!Files.isDirectory(warm)) {
            return List.of();
        }
        try (Stream<Path> list = Files.list(warm)) {
            return list.filter(p -> p.getFileName().toString().matches("[0-9]+")).sorted().toList();
        }
    }

    private static List<Path> spareDirectories() throws IOException {
        if (!Files.isDirectory(PrivateContainerd.SPARES)) {
            return List.of();
        }
        try (Stream<Path> list = Files.list(PrivateContainerd.SPARES)) {
            return list.sorted().toList();
        }
    }
}
