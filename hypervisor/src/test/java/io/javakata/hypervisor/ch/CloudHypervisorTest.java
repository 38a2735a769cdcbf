package io.javakata.hypervisor.ch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.javakata.hypervisor.Accelerator;
import io.javakata.hypervisor.AgentEndpoint;
import io.javakata.hypervisor.Hypervisor;
import io.javakata.hypervisor.VmSpec;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The driver's calls, in order, against the fake API server: a stand-in VMM process (a shell script that waits)
 * is launched for real through the host spawner, and the fake serves Cloud Hypervisor's API on the socket the
 * driver named, from the moment the process exists. After every test no process of the test and no socket is left.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class CloudHypervisorTest {

    private static final CloudHypervisorHost.Kvm KVM_OK = new CloudHypervisorHost.Kvm(true, "/dev/kvm opens read-write");

    @TempDir
    Path dir;

    private FakeChApi fake;
    private final List<Long> launchedPids = new CopyOnWriteArrayList<>();

    @AfterEach
    void nothingIsLeft() throws IOException {
        if (fake != null) {
            fake.close();
        }
        for (long pid : launchedPids) {
            ProcessHandle.of(pid).ifPresent(p -> {
                p.destroyForcibly();
                throw new AssertionError("process " + pid + " outlived the test");
            });
        }
        try (Stream<Path> files = Files.list(dir.resolve("vm"))) {
            List<Path> sockets = files.filter(p -> p.getFileName().toString().endsWith(".sock")).toList();
            assertEquals(List.of(), sockets, "sockets left behind");
        } catch (java.nio.file.NoSuchFileException e) {
            // the driver never made its directory
        }
    }

    private Path script(String body) throws IOException {
        Path script = dir.resolve("cloud-hypervisor");
        Files.writeString(script, "#!/bin/sh\n" + body + "\n");
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
        return script;
    }

    private VmSpec spec(Path binary, Duration bootTimeout) {
        return new VmSpec("pod-1", dir.resolve("vm"), binary, dir.resolve("vmlinuz"), dir.resolve("initrd.img"), "",
                1, 256, Accelerator.AUTO, "q35", null, VmSpec.AgentChannel.SERIAL, bootTimeout);
    }

    /** On the VMM's launch, serves the API on its socket; vmm.shutdown ends the process, as it ends CH. */
    private Consumer<Hypervisor.OwnedProcess> serveApi(ChPaths paths, Consumer<FakeChApi> setUp) {
        return process -> {
            launchedPids.add(process.pid());
            if (!process.role().equals(Hypervisor.OwnedProcess.VMM)) {
                return;
            }
            try {
                fake = new FakeChApi(paths.apiSocket());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            FakeChApi api = fake;
            api.onVmmShutdown = () -> ProcessHandle.of(process.pid()).ifPresent(ProcessHandle::destroy);
            ProcessHandle.of(process.pid()).ifPresent(h -> h.onExit().thenRun(api::vmmExited));
            setUp.accept(fake);
        };
    }

    @Test
    void startCreatesAndBootsThenStopShutsDownDeletesAndEndsTheVmm() throws IOException {
        VmSpec spec = spec(script("exec sleep 600"), Duration.ofSeconds(20));
        CloudHypervisor vm = new CloudHypervisor(spec, () -> KVM_OK);
        vm.start(serveApi(vm.paths(), f -> { }));

        assertEquals(List.of("vmm.ping", "vm.create", "vm.boot"), fake.actions());
        assertEquals(FakeChApi.VmState.RUNNING, fake.state());
        assertEquals(new AgentEndpoint.HybridVsock(vm.paths().vsockSocket(), 1024), vm.agentEndpoint());
        assertEquals(Accelerator.KVM, vm.accelerator().accelerator());
        assertEquals("49.0.0", vm.version());
        assertEquals(ChVmConfig.of(spec, vm.paths(), CloudHypervisor.GUEST_CID).toString(),
                fake.body("vm.create").toString());
        assertEquals(List.of(spec.vmmBinary().toString(), "--api-socket", "path=" + vm.paths().apiSocket(), "-v"),
                vm.argv());

        vm.stop(Duration.ofSeconds(10));
        assertEquals(List.of("vmm.ping", "vm.create", "vm.boot", "vm.shutdown", "vm.delete", "vmm.shutdown"),
                fake.actions());
        assertFalse(ProcessHandle.of(vm.pid()).map(ProcessHandle::isAlive).orElse(false));
        // Completed by the process's exit callback, which may run a moment after the process is gone.
        assertEquals(143, vm.onExit().orTimeout(5, TimeUnit.SECONDS).join());
        vm.stop(Duration.ofSeconds(1)); // idempotent
        assertEquals(6, fake.actions().size());
    }

    @Test
    void unusableKvmIsRefusedBeforeAnythingIsLaunched() throws IOException {
        VmSpec spec = spec(script("exec sleep 600"), Duration.ofSeconds(5));
        CloudHypervisor vm = new CloudHypervisor(spec, () -> new CloudHypervisorHost.Kvm(false, "no /dev/kvm"));
        IOException e = assertThrows(IOException.class, () -> vm.start(serveApi(vm.paths(), f -> { })));
        assertEquals("start VM pod-1: Cloud Hypervisor needs KVM, and KVM is unusable on this host: no /dev/kvm",
                e.getMessage());
        assertEquals(List.of(), launchedPids);
    }

    @Test
    void tcgIsRefusedSayingWhy() throws IOException {
        VmSpec spec = new VmSpec("pod-1", dir.resolve("vm"), script("exit 0"), dir.resolve("k"), dir.resolve("i"), "",
                1, 256, Accelerator.TCG, "q35", null, VmSpec.AgentChannel.SERIAL, Duration.ofSeconds(5));
        CloudHypervisor vm = new CloudHypervisor(spec, () -> KVM_OK);
        IOException e = assertThrows(IOException.class, () -> vm.start(serveApi(vm.paths(), f -> { })));
        assertTrue(e.getMessage().contains("accelerator=TCG: Cloud Hypervisor has no TCG, it runs only on KVM"),
                e.getMessage());
        assertEquals(List.of(), launchedPids);
    }

    @Test
    void aVmmThatExitsBeforeItsApiSocketAppearsGivesItsOwnWords() throws IOException {
        VmSpec spec = spec(script("echo 'Error: failed to create hypervisor: /dev/kvm: No such file' >&2; exit 1"),
                Duration.ofSeconds(20));
        CloudHypervisor vm = new CloudHypervisor(spec, () -> KVM_OK);
        IOException e = assertThrows(IOException.class, () -> vm.start(p -> launchedPids.add(p.pid())));
        assertTrue(e.getMessage().startsWith("start VM pod-1: Cloud Hypervisor exited with code 1 before its API "
                + "socket " + vm.paths().apiSocket() + " answered; "), e.getMessage());
        assertTrue(e.getMessage().endsWith("Error: failed to create hypervisor: /dev/kvm: No such file"), e.getMessage());
        assertEquals(1, vm.onExit().join());
    }

    @Test
    void anApiSocketThatNeverAppearsEndsAtTheBootTimeout() throws IOException {
        VmSpec spec = spec(script("exec sleep 600"), Duration.ofMillis(700));
        CloudHypervisor vm = new CloudHypervisor(spec, () -> KVM_OK);
        IOException e = assertThrows(IOException.class, () -> vm.start(p -> launchedPids.add(p.pid())));
        assertTrue(e.getMessage().contains("did not answer within PT0.7S"), e.getMessage());
        assertTrue(e.getMessage().contains("the socket never appeared"), e.getMessage());
    }

    @Test
    void aRefusedCreateNamesTheCallAndCloudHypervisorsMessageAndKillsTheVmm() throws IOException {
        VmSpec spec = spec(script("exec sleep 600"), Duration.ofSeconds(20));
        CloudHypervisor vm = new CloudHypervisor(spec, () -> KVM_OK);
        IOException e = assertThrows(IOException.class, () -> vm.start(serveApi(vm.paths(), f -> f.faults.put(
                "vm.create", new FakeChApi.Fault.Refuse(400, "Failed to deserialize JSON", "missing field `size`")))));
        assertTrue(e.getMessage().startsWith("start VM pod-1: vm.create: Cloud Hypervisor answered 400: Failed to "
                + "deserialize JSON: missing field `size`; "), e.getMessage());
        assertEquals(List.of("vmm.ping", "vm.create"), fake.actions());
    }

    @Test
    void aConnectionDyingDuringBootIsAClearError() throws IOException {
        VmSpec spec = spec(script("exec sleep 600"), Duration.ofSeconds(20));
        CloudHypervisor vm = new CloudHypervisor(spec, () -> KVM_OK);
        IOException e = assertThrows(IOException.class, () -> vm.start(serveApi(vm.paths(),
                f -> f.faults.put("vm.boot", new FakeChApi.Fault.DieMidAnswer()))));
        assertTrue(e.getMessage().startsWith("start VM pod-1: vm.boot (PUT /api/v1/vm.boot on "), e.getMessage());
        assertTrue(e.getMessage().contains("connection closed after"), e.getMessage());
    }

    @Test
    void aBootThatNeverAnswersEndsAtTheDeadline() throws IOException {
        VmSpec spec = spec(script("exec sleep 600"), Duration.ofSeconds(2));
        CloudHypervisor vm = new CloudHypervisor(spec, () -> KVM_OK);
        long start = System.nanoTime();
        IOException e = assertThrows(IOException.class, () -> vm.start(serveApi(vm.paths(),
                f -> f.faults.put("vm.boot", new FakeChApi.Fault.Silent()))));
        assertTrue(e.getMessage().contains("vm.boot (PUT /api/v1/vm.boot on "), e.getMessage());
        assertTrue(e.getMessage().contains("no complete answer within"), e.getMessage());
        assertTrue(System.nanoTime() - start < Duration.ofSeconds(10).toNanos());
    }

    @Test
    void anOldCloudHypervisorIsRefusedNamingItsVersion() throws IOException {
        VmSpec spec = spec(script("exec sleep 600"), Duration.ofSeconds(20));
        CloudHypervisor vm = new CloudHypervisor(spec, () -> KVM_OK);
        IOException e = assertThrows(IOException.class,
                () -> vm.start(serveApi(vm.paths(), f -> f.version = "48.0.0")));
        assertTrue(e.getMessage().startsWith("start VM pod-1: Cloud Hypervisor version '48.0.0' (vmm.ping) is too "
                + "old or unreadable: this driver needs v49.0 or later"), e.getMessage());
    }

    @Test
    void theDebugConsoleIsRefused() throws IOException {
        VmSpec spec = spec(script("exec sleep 600"), Duration.ofSeconds(5)).withDebugConsole(true);
        CloudHypervisor vm = new CloudHypervisor(spec, () -> KVM_OK);
        IOException e = assertThrows(IOException.class, () -> vm.start(p -> launchedPids.add(p.pid())));
        assertTrue(e.getMessage().contains("Cloud Hypervisor does not have"), e.getMessage());
    }

    @Test
    void aVmmThatIgnoresShutdownIsTerminatedAfterTheGrace() throws IOException {
        VmSpec spec = spec(script("trap '' TERM; while :; do sleep 1; done"), Duration.ofSeconds(20));
        CloudHypervisor vm = new CloudHypervisor(spec, () -> KVM_OK);
        vm.start(serveApi(vm.paths(), f -> { }));
        fake.onVmmShutdown = () -> { };
        long start = System.nanoTime();
        vm.stop(Duration.ofMillis(500));
        assertFalse(ProcessHandle.of(vm.pid()).map(ProcessHandle::isAlive).orElse(false));
        assertTrue(System.nanoTime() - start < Duration.ofSeconds(15).toNanos());
    }

    @Test
    void versionsAreReadWithOrWithoutTheirV() {
        assertEquals(49, CloudHypervisor.majorVersion("49.0.0"));
        assertEquals(53, CloudHypervisor.majorVersion("v53.0-12-gabcdef"));
        assertEquals(-1, CloudHypervisor.majorVersion("dummy"));
        assertEquals(-1, CloudHypervisor.majorVersion(""));
    }
}
