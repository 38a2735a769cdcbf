package io.javakata.shim.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.javakata.shim.config.RuntimeConfig;
import io.javakata.shim.rootfs.Mounter;
import io.javakata.sys.Mounts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The sweep of spare VMs whose warm shim is gone, and their listing, with real mounts and a real process standing in
 * for the spare's QEMU. Needs root.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class SpareVmsTest {

    @TempDir
    Path tmp;

    private final List<Process> processes = new ArrayList<>();

    @AfterEach
    void tearDown() throws IOException {
        processes.forEach(Process::destroyForcibly);
        Mounter.unmountUnder(tmp);
    }

    private Process start(String... command) throws IOException {
        Process process = new ProcessBuilder(command).start();
        processes.add(process);
        return process;
    }

    /** A spare's directory as Sandbox makes it: the share mounted, a journal naming {@code shim} and {@code vmm}. */
    private SandboxPaths spare(String name, long shim, long shimStart, Process vmm) throws IOException {
        SandboxPaths paths = new SandboxPaths(tmp.resolve("spares").resolve(name));
        Files.createDirectories(paths.mounts());
        Files.createDirectories(paths.shared());
        Mounter.makeShare(paths.mounts(), paths.shared());
        new SandboxState("spare-" + name, SpareVms.NAMESPACE, shim, shimStart, paths.dir().toString(),
                List.of(new PodResource.StateDir(), new PodResource.Vm(List.of(new PodResource.HostProcess("vmm",
                        vmm.pid(), HostProcesses.startTime(vmm.pid()).orElseThrow())))))
                .write(paths.sandboxJson());
        return paths;
    }

    @Test
    void aSpareWhoseShimDiedIsCleanedUpAndOneWhoseShimRunsIsKept() throws Exception {
        Process deadShim = start("true");
        deadShim.waitFor();
        Process deadVmm = start("sleep", "60");
        SandboxPaths dead = spare("101", deadShim.pid(), 1, deadVmm);
        Process liveShim = start("sleep", "60");
        Process liveVmm = start("sleep", "60");
        SandboxPaths live = spare("102", liveShim.pid(), HostProcesses.startTime(liveShim.pid()).orElseThrow(),
                liveVmm);

        List<SpareVms.Spare> listed = SpareVms.list(tmp.resolve("spares"));
        assertEquals(List.of(new SpareVms.Spare(dead.dir(), deadShim.pid(), false, deadVmm.pid()),
                new SpareVms.Spare(live.dir(), liveShim.pid(), true, liveVmm.pid())), listed);

        assertEquals(List.of(dead.dir()), SpareVms.sweep(tmp.resolve("spares")));
        assertTrue(deadVmm.waitFor(5, TimeUnit.SECONDS), "the dead spare's VMM, killed from its journal");
        assertFalse(Files.exists(dead.dir()));
        assertTrue(Files.exists(live.sandboxJson()), "a live warm shim's spare stays");
        assertTrue(Mounts.isMountPoint(live.shared()));
        assertTrue(liveVmm.isAlive());

        assertEquals(List.of(), SpareVms.sweep(tmp.resolve("spares")), "idempotent");
    }

    @Test
    void spareRmKillsTheWarmShimsAndTheSweepTheirSpares() throws Exception {
        Process shim = start("sleep", "60");
        Process vmm = start("sleep", "60");
        SandboxPaths spare = spare("103", shim.pid(), HostProcesses.startTime(shim.pid()).orElseThrow(), vmm);

        assertEquals(1, SpareVms.killShims(tmp.resolve("spares")));
        assertTrue(shim.waitFor(5, TimeUnit.SECONDS));
        assertEquals(List.of(spare.dir()), SpareVms.sweep(tmp.resolve("spares")));
        assertTrue(vmm.waitFor(5, TimeUnit.SECONDS));
        assertEquals(0, SpareVms.killShims(tmp.resolve("spares")));
    }

    @Test
    void aDirectoryWithoutJournalGoesOnlyWhenTheProcessItIsNamedAfterIsGone() throws Exception {
        Process gone = start("true");
        gone.waitFor();
        Path orphan = Files.createDirectories(tmp.resolve("spares").resolve(Long.toString(gone.pid())).resolve("mounts"))
                .getParent();
        Path starting = Files.createDirectories(tmp.resolve("spares").resolve(Long.toString(ProcessHandle.current()
                .pid())));

        assertEquals(List.of(orphan), SpareVms.sweep(tmp.resolve("spares")));
        assertFalse(Files.exists(orphan));
        assertTrue(Files.exists(starting), "a spare being made (its journal not yet written) stays");
    }

    /** A spare's journal becomes the pod's before its directory is renamed, and is followed there. */
    @Test
    void aRetargetedJournalNamesThePodAndFollowsItsDirectory() throws Exception {
        SandboxPaths from = new SandboxPaths(Files.createDirectories(tmp.resolve("spares/104")));
        RuntimeConfig d = RuntimeConfig.defaults();
        var ctx = new io.javakata.shim.config.ShimContext(SpareVms.NAMESPACE, "spare-104", "", "", null, d, false);
        Journal journal = Journal.start(ctx, "spare-104", from);
        SandboxPaths to = new SandboxPaths(tmp.resolve("sandboxes/abc"));

        journal.retarget("k8s.io", "pod-1", to);
        SandboxState retargeted = SandboxState.read(from.sandboxJson());
        assertEquals("pod-1", retargeted.sandboxId());
        assertEquals("k8s.io", retargeted.namespace());
        assertEquals(to.dir().toString(), retargeted.dir());
        assertEquals(ProcessHandle.current().pid(), retargeted.shimPid());

        Files.createDirectories(to.dir().getParent());
        Files.move(from.dir(), to.dir());
        journal.moved(to);
        journal.record(new PodResource.Cgroup("/k8s.io/pod-1"));
        assertEquals(List.of(new PodResource.StateDir(), new PodResource.Cgroup("/k8s.io/pod-1")),
                SandboxState.read(to.sandboxJson()).resources());
    }

    @Test
    void nothingToSweepWithoutTheDirectory() throws IOException {
        assertEquals(List.of(), SpareVms.sweep(tmp.resolve("none")));
        assertEquals(List.of(), SpareVms.list(tmp.resolve("none")));
    }

    @Test
    void aConfigurationWithoutSparesMakesNone() {
        RuntimeConfig d = RuntimeConfig.defaults();
        RuntimeConfig config = new RuntimeConfig(d.hypervisor(), d.virtiofsd(), d.agent(),
                new RuntimeConfig.Runtime(tmp.resolve("state"), false), d.template());
        SpareVms.prepare(config);
        assertFalse(Files.exists(tmp.resolve("state")));
        assertTrue(SpareVms.take().isEmpty());
    }
}
