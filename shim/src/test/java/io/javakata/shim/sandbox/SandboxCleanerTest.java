package io.javakata.shim.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.containerd.task.v2.DeleteResponse;
import io.javakata.shim.config.RuntimeConfig;
import io.javakata.shim.config.ShimContext;
import io.javakata.shim.rootfs.Mounter;
import io.javakata.shim.rootfs.RootfsMount;
import io.javakata.sys.ErrnoException;
import io.javakata.sys.Mounts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The shim's delete action, with real mounts and a real process standing in for QEMU. Needs root. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class SandboxCleanerTest {

    @TempDir
    Path tmp;

    private ShimContext ctx;
    private SandboxPaths paths;
    private Path image;
    private Process vmm;

    @BeforeEach
    void setUp() throws IOException {
        RuntimeConfig d = RuntimeConfig.defaults();
        RuntimeConfig config = new RuntimeConfig(d.hypervisor(), d.virtiofsd(), d.agent(),
                new RuntimeConfig.Runtime(tmp.resolve("state"), false));
        ctx = new ShimContext("ns1", "pod1", "/run/containerd/containerd.sock", "", tmp, config, false);
        paths = SandboxPaths.of(tmp.resolve("state"), "ns1", "pod1");
        image = Files.createDirectories(tmp.resolve("image"));
        Files.writeString(image.resolve("keep.txt"), "precious");
        Files.createDirectories(paths.shared());
        Files.createDirectories(paths.mounts());
        Mounter.makeShare(paths.mounts(), paths.shared());
        mountRootfs("pod1");
        // A stand-in VMM, known to the cleaner only through the journal.
        vmm = new ProcessBuilder("sleep", "60").start();
    }

    @AfterEach
    void tearDown() throws IOException {
        vmm.destroyForcibly();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String target = line.split(" ")[4];
            if (target.startsWith(tmp.toString())) {
                try {
                    Mounts.unmount(target, Mounts.MNT_DETACH);
                } catch (ErrnoException e) {
                    // already gone with its parent
                }
            }
        }
    }

    private void mountRootfs(String id) throws IOException {
        Files.createDirectories(paths.rootfs(id));
        Mounter.mountRootfs(List.of(new RootfsMount("bind", image.toString(), List.of("rbind", "rw"))),
                paths.rootfs(id));
    }

    /** The journal a shim writes: the state dir, {@code more}, and the VM with the stand-in VMM. */
    private void writeState(long shimPid, long shimStart, PodResource... more) throws IOException {
        List<PodResource> resources = new java.util.ArrayList<>();
        resources.add(new PodResource.StateDir());
        resources.addAll(List.of(more));
        resources.add(new PodResource.Vm(List.of(new PodResource.HostProcess("vmm", vmm.pid(),
                HostProcesses.startTime(vmm.pid()).orElseThrow()))));
        new SandboxState("pod1", "ns1", shimPid, shimStart, paths.dir().toString(), resources).write(paths.sandboxJson());
        assertEquals(resources, SandboxState.read(paths.sandboxJson()).resources(), "the journal reads back whole");
    }

    @Test
    void afterTheShimDiedItKillsTheVmAndRemovesEverything() throws Exception {
        Process deadShim = new ProcessBuilder("true").start();
        deadShim.waitFor();
        writeState(deadShim.pid(), 1);

        Instant before = Instant.now();
        DeleteResponse response = SandboxCleaner.cleanup(ctx, "pod1", null);

        assertEquals(137, response.getExitStatus());
        assertEquals(vmm.pid(), response.getPid());
        assertFalse(Instant.ofEpochSecond(response.getExitedAt().getSeconds()).isBefore(before.minusSeconds(1)));
        assertTrue(vmm.waitFor(5, TimeUnit.SECONDS), "the stand-in VMM was killed");
        assertFalse(Files.exists(paths.dir()), "state dir removed");
        assertFalse(Mounts.isMountPoint(paths.shared()));
        assertEquals("precious", Files.readString(image.resolve("keep.txt")), "the image survives");

        DeleteResponse again = SandboxCleaner.cleanup(ctx, "pod1", null);
        assertEquals(137, again.getExitStatus(), "idempotent");
    }

    @Test
    void aShimKilledWhileBuildingAVmTemplateLeavesNoBuildBehind() throws Exception {
        var store = io.javakata.hypervisor.qemu.TemplateStore.under(tmp.resolve("state"));
        var shape = new io.javakata.hypervisor.qemu.TemplateShape(java.util.Map.of("vcpus", "1"), "ab".repeat(32));
        Files.writeString(store.newBuildDir(shape).resolve("memory"), "the template VM's RAM");
        Process templateVm = new ProcessBuilder("sleep", "60").start();
        try {
            Process deadShim = new ProcessBuilder("true").start();
            deadShim.waitFor();
            writeState(deadShim.pid(), 1, new PodResource.Vm(List.of(new PodResource.HostProcess(
                    VmTemplates.TEMPLATE_VMM, templateVm.pid(), HostProcesses.startTime(templateVm.pid()).orElseThrow()))));
            SandboxCleaner.cleanup(ctx, "pod1", null);
            assertTrue(templateVm.waitFor(5, TimeUnit.SECONDS), "the template VM was killed");
            assertFalse(Files.exists(store.root().resolve(shape.key() + ".build")), "its build directory is gone");
        } finally {
            templateVm.destroyForcibly();
        }
    }

    @Test
    void aZombieShimCountsAsDead() throws Exception {
        // sh's child exits after 0.3 s, when sh has long exec'd sleep, which never reaps it: a zombie for 5 s.
        // (A child that exits at once, like "true", may be reaped by sh itself before its exec: flaky under load.)
        Process parent = new ProcessBuilder("sh", "-c", "sleep 0.3 & echo $!; exec sleep 5").start();
        try {
            long zombie = Long.parseLong(new java.io.BufferedReader(new java.io.InputStreamReader(
                    parent.getInputStream(), java.nio.charset.StandardCharsets.US_ASCII)).readLine().strip());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(3);
            while (!Files.readString(Path.of("/proc/" + zombie + "/stat")).contains(") Z ")
                    && System.nanoTime() < deadline) {
                Thread.sleep(10); // the child exits within a moment; the kernel offers no event to wait on
            }
            assertTrue(Files.readString(Path.of("/proc/" + zombie + "/stat")).contains(") Z "), "a zombie");
            assertTrue(HostProcesses.startTime(zombie).isEmpty());
            writeState(zombie, 1);
            SandboxCleaner.cleanup(ctx, "pod1", null);
            assertTrue(vmm.waitFor(5, TimeUnit.SECONDS), "the VM of a zombie shim is killed");
            assertFalse(Files.exists(paths.dir()));
        } finally {
            parent.destroyForcibly();
        }
    }

    @Test
    void withALiveShimItTouchesOnlyItsOwnTask() throws Exception {
        mountRootfs("c2");
        long self = ProcessHandle.current().pid();
        writeState(self, HostProcesses.startTime(self).orElseThrow());
        Path bundle = Files.createDirectories(tmp.resolve("bundle-c2"));
        Files.writeString(bundle.resolve("config.json"),
                "{\"annotations\": {\"io.kubernetes.cri.sandbox-id\": \"pod1\"}}");

        long started = System.nanoTime();
        SandboxCleaner.cleanup(ctx, "c2", bundle);
        assertTrue(Duration.ofNanos(System.nanoTime() - started).toMillis() < 2000, "well within 5 s");

        assertFalse(Files.exists(paths.containerDir("c2")), "its own rootfs is gone");
        assertTrue(Mounts.isMountPoint(paths.rootfs("pod1")), "the other task's rootfs stays");
        assertTrue(vmm.isAlive(), "the VM of a live shim stays");
        assertTrue(Files.exists(paths.sandboxJson()));
    }

    private static String sh(String... argv) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0, String.join(" ", argv) + ": " + out);
        return out;
    }

    @Test
    void afterTheShimDiedItRemovesTheTapAndTcMirrorFromThePodNetns() throws Exception {
        // A real pod netns as a dead shim leaves it: eth0 (the CNI side: one end of a veth pair here) mirrored to
        // tap0_jk both ways with ingress qdiscs and mirred filters, as PodNetwork sets it up.
        String name = "jkclean" + ProcessHandle.current().pid();
        Path netns = Path.of("/var/run/netns", name);
        sh("ip", "netns", "add", name);
        try {
            sh("ip", "-n", name, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0");
            sh("ip", "-n", name, "tuntap", "add", "dev", "tap0_jk", "mode", "tap");
            for (String[] pair : new String[][] {{"eth0", "tap0_jk"}, {"tap0_jk", "eth0"}}) {
                sh("ip", "netns", "exec", name, "tc", "qdisc", "add", "dev", pair[0], "ingress");
                sh("ip", "netns", "exec", name, "tc", "filter", "add", "dev", pair[0], "parent", "ffff:", "protocol", "all",
                        "u32", "match", "u32", "0", "0", "action", "mirred", "egress", "redirect", "dev", pair[1]);
            }
            Process deadShim = new ProcessBuilder("true").start();
            deadShim.waitFor();
            writeState(deadShim.pid(), 1, new PodResource.Network(netns.toString()));

            // From the journal alone: no bundle says where the netns is.
            SandboxCleaner.cleanup(ctx, "pod1", null);

            String links = sh("ip", "-n", name, "-o", "link");
            assertFalse(links.contains("tap0_jk"), links);
            assertTrue(links.contains("eth0"), "CNI's interface stays: " + links);
            String qdiscs = sh("ip", "netns", "exec", name, "tc", "qdisc", "show", "dev", "eth0");
            assertFalse(qdiscs.contains("ingress"), qdiscs);
            assertFalse(Files.exists(paths.dir()));
        } finally {
            sh("ip", "netns", "del", name);
        }
    }

    @Test
    void withALiveShimThePodNetnsIsLeftAlone() throws Exception {
        String name = "jkkeep" + ProcessHandle.current().pid();
        Path netns = Path.of("/var/run/netns", name);
        sh("ip", "netns", "add", name);
        try {
            sh("ip", "-n", name, "tuntap", "add", "dev", "tap0_jk", "mode", "tap");
            long self = ProcessHandle.current().pid();
            writeState(self, HostProcesses.startTime(self).orElseThrow(), new PodResource.Network(netns.toString()));

            SandboxCleaner.cleanup(ctx, "pod1", null);

            assertTrue(sh("ip", "-n", name, "-o", "link").contains("tap0_jk"), "a live pod keeps its tap");
        } finally {
            sh("ip", "netns", "del", name);
        }
    }

    @Test
    void afterTheShimDiedItKillsEverythingInTheJournaledCgroupAndRemovesIt() throws Exception {
        String path = "/javakata-cleaner-test-" + java.util.UUID.randomUUID();
        HostCgroup cgroup = HostCgroup.create(HostCgroup.ROOT, path);
        try {
            // A "virtiofsd" the journal never named (it died before its pid was written), with a child of its own.
            Process unnamed = io.javakata.hypervisor.HostSpawner.start(List.of("/bin/sh", "-c", "sleep 600 & exec sleep 601"),
                    cgroup.dirs(), tmp.resolve("spawn.log"));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (unnamed.toHandle().descendants().findAny().isEmpty() && System.nanoTime() < deadline) {
                unnamed.waitFor(10, TimeUnit.MILLISECONDS);
            }
            List<ProcessHandle> group = new java.util.ArrayList<>(unnamed.toHandle().descendants().toList());
            group.add(unnamed.toHandle());
            Process deadShim = new ProcessBuilder("true").start();
            deadShim.waitFor();
            writeState(deadShim.pid(), 1, new PodResource.Cgroup(path));

            SandboxCleaner.cleanup(ctx, "pod1", null);

            for (ProcessHandle process : group) {
                assertTrue(io.javakata.hypervisor.ChildProcesses.awaitExit(process, Duration.ofSeconds(5)),
                        "pid " + process.pid() + " of the pod's cgroup survived");
            }
            for (Path dir : cgroup.dirs()) {
                assertFalse(Files.exists(dir), dir + " removed");
            }
            assertTrue(vmm.waitFor(5, TimeUnit.SECONDS), "the journaled VMM was killed too");
            assertFalse(Files.exists(paths.dir()));
        } finally {
            cgroup.killAndRemove();
        }
    }

    @Test
    void unknownTaskIsANoOp() {
        DeleteResponse response = SandboxCleaner.cleanup(ctx, "never-existed", null);
        assertEquals(137, response.getExitStatus());
        assertEquals(0, response.getPid());
        assertTrue(vmm.isAlive());
    }
}
