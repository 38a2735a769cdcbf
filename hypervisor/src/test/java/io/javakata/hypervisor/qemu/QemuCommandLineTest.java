package io.javakata.hypervisor.qemu;

import io.javakata.hypervisor.Accelerator;
import io.javakata.hypervisor.VmSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(10)
class QemuCommandLineTest {

    private static final Path STATE = Path.of("/run/javakata/sandboxes/0123abcd");
    private static final VmSpec.SharedFs SHARED = new VmSpec.SharedFs("javakata",
            Path.of("/run/javakata/sandboxes/0123abcd/shared"), Path.of("/usr/lib/qemu/virtiofsd"), "auto");

    /** Only a microvm guest under TCG gets it. */
    private static final OptionalLong TSC = OptionalLong.of(2_596_120);

    /** 66 MiB: a virtio-pmem device under q35 (maxmem = RAM + 66 MiB), a read-only disk under microvm. */
    private static final VmSpec.AgentImage IMAGE = new VmSpec.AgentImage(Path.of("/usr/share/javakata/agent.img"),
            66L << 20);

    private static VmSpec spec(String machine, int vcpus, int memory, String params, VmSpec.SharedFs shared,
                               VmSpec.AgentChannel channel) {
        return new VmSpec("pod-1", STATE, Path.of("/usr/bin/qemu-system-x86_64"),
                Path.of("/usr/share/javakata/vmlinuz"), Path.of("/usr/share/javakata/initrd.img"), params, vcpus,
                memory, Accelerator.AUTO, machine, shared, channel, Duration.ofSeconds(30)).withAgentImage(IMAGE);
    }

    @Test
    void withoutAgentImageTheRamHasNoRoomForMemoryDevices() {
        VmSpec spec = spec("q35", 1, 512, "", null, VmSpec.AgentChannel.SERIAL).withAgentImage(null);
        List<String> argv = QemuCommandLine.of(spec, Accelerator.TCG, OptionalLong.empty(), TSC).argv();
        assertEquals("512M", argv.get(argv.indexOf("-m") + 1));
        assertTrue(argv.stream().noneMatch(a -> a.contains("pmem") || a.contains("agentimg")), argv.toString());
    }

    @Test
    void q35WithSerialAgentAndVirtiofsUnderTcg() throws IOException {
        VmSpec spec = spec("q35", 2, 512, "quiet agent.log=debug", SHARED, VmSpec.AgentChannel.SERIAL);
        assertGolden("q35-serial-virtiofs-tcg.txt",
                QemuCommandLine.of(spec, Accelerator.TCG, OptionalLong.empty(), TSC));
    }

    @Test
    void microvmDropsQuietAndForcesModernVirtioMmio() throws IOException {
        VmSpec spec = spec("microvm", 1, 256, "quiet agent.log=debug", SHARED, VmSpec.AgentChannel.SERIAL);
        assertGolden("microvm-serial-virtiofs-tcg.txt",
                QemuCommandLine.of(spec, Accelerator.TCG, OptionalLong.empty(), TSC));
    }

    @Test
    void q35WithVsockUnderKvm() throws IOException {
        VmSpec spec = spec("q35", 4, 2048, "", null, VmSpec.AgentChannel.VSOCK);
        assertGolden("q35-vsock-kvm.txt", QemuCommandLine.of(spec, Accelerator.KVM, OptionalLong.of(42), TSC));
    }

    @Test
    void microvmWithVsockUnderKvm() throws IOException {
        VmSpec spec = spec("microvm", 1, 128, null, null, VmSpec.AgentChannel.VSOCK);
        assertGolden("microvm-vsock-kvm.txt", QemuCommandLine.of(spec, Accelerator.KVM, OptionalLong.of(3), TSC));
    }

    @Test
    void q35WithHybridVsockOnAVhostUserBackend() throws IOException {
        VmSpec spec = spec("q35", 1, 512, "", SHARED, VmSpec.AgentChannel.HYBRID_VSOCK);
        assertGolden("q35-hybrid-vsock-virtiofs-tcg.txt",
                QemuCommandLine.of(spec, Accelerator.TCG, OptionalLong.empty(), TSC));
    }

    @Test
    void microvmWithHybridVsockOnAVhostUserBackend() throws IOException {
        VmSpec spec = spec("microvm", 1, 256, "", SHARED, VmSpec.AgentChannel.HYBRID_VSOCK);
        assertGolden("microvm-hybrid-vsock-virtiofs-tcg.txt",
                QemuCommandLine.of(spec, Accelerator.TCG, OptionalLong.empty(), TSC));
    }

    @Test
    void q35InThePodNetnsWithATapNic() throws IOException {
        VmSpec spec = spec("q35", 1, 512, "", SHARED, VmSpec.AgentChannel.SERIAL)
                .withNetwork(Path.of("/var/run/netns/cni-1234"), List.of(new VmSpec.Nic("net0", "tap0_jk", "02:42:AC:11:00:02")));
        assertGolden("q35-serial-virtiofs-tcg-netns-nic.txt",
                QemuCommandLine.of(spec, Accelerator.TCG, OptionalLong.empty(), TSC));
    }

    @Test
    void microvmNicIsAVirtioMmioDevice() throws IOException {
        VmSpec spec = spec("microvm", 1, 256, "", SHARED, VmSpec.AgentChannel.SERIAL)
                .withNetwork(Path.of("/run/containerd/io.containerd.grpc.v1.cri/netns/cni-9"),
                        List.of(new VmSpec.Nic("net0", "tap0_jk", "0a:58:0a:f4:00:05")));
        assertGolden("microvm-serial-virtiofs-tcg-netns-nic.txt",
                QemuCommandLine.of(spec, Accelerator.TCG, OptionalLong.empty(), TSC));
    }

    @Test
    void q35RunAsAUserKeepsSetuidAllowedForItsOwnDrop() throws IOException {
        VmSpec spec = spec("q35", 1, 512, "", SHARED, VmSpec.AgentChannel.SERIAL)
                .withNetwork(Path.of("/var/run/netns/cni-1234"), List.of(new VmSpec.Nic("net0", "tap0_jk", "02:42:AC:11:00:02")))
                .withHostLimits("javakata-qemu", 1 << 20);
        assertGolden("q35-serial-virtiofs-tcg-netns-nic-runas.txt",
                QemuCommandLine.of(spec, Accelerator.TCG, OptionalLong.empty(), TSC));
    }

    @Test
    void everyCommandLineStartsPausedUnderSeccompWithoutSpawning() {
        for (String user : List.of("", "javakata-qemu")) {
            VmSpec spec = spec("microvm", 1, 256, "", SHARED, VmSpec.AgentChannel.SERIAL).withHostLimits(user, 1 << 20);
            List<String> argv = QemuCommandLine.of(spec, Accelerator.TCG, OptionalLong.empty(), TSC).argv();
            assertTrue(argv.contains("-S"), argv.toString());
            String sandbox = argv.get(argv.indexOf("-sandbox") + 1);
            assertTrue(sandbox.startsWith("on,obsolete=deny,") && sandbox.contains(",spawn=deny,resourcecontrol=deny"),
                    sandbox);
            assertEquals(!user.isEmpty(), argv.contains("-runas"), argv.toString());
            assertTrue(argv.stream().noneMatch(a -> a.startsWith("file:")), "no unbounded file console: " + argv);
        }
    }

    @Test
    void netnsArgvExecsQemuThroughNsenter() {
        VmSpec spec = spec("q35", 1, 512, "", null, VmSpec.AgentChannel.SERIAL)
                .withNetwork(Path.of("/var/run/netns/p"), List.of());
        List<String> argv = QemuCommandLine.of(spec, Accelerator.TCG, OptionalLong.empty(), TSC).argv();
        assertEquals(List.of("/usr/bin/nsenter", "--net=/var/run/netns/p", "/usr/bin/qemu-system-x86_64"),
                argv.subList(0, 3));
        assertTrue(argv.stream().noneMatch(a -> a.startsWith("tap,")), argv.toString());
    }

    @Test
    void argvIsTheBinaryFollowedByEveryFragmentInOrder() {
        VmSpec spec = spec("q35", 1, 512, "a=b", SHARED, VmSpec.AgentChannel.SERIAL);
        QemuCommandLine commandLine = QemuCommandLine.of(spec, Accelerator.TCG, OptionalLong.empty(), TSC);
        List<String> expected = new ArrayList<>(List.of("/usr/bin/qemu-system-x86_64"));
        commandLine.fragments().forEach(f -> expected.addAll(f.args()));
        assertEquals(expected, commandLine.argv());
        int append = commandLine.argv().indexOf("-append");
        assertEquals("console=ttyS0 panic=-1 reboot=t swiotlb=noforce tsc=reliable nowatchdog "
                + "sysctl.vm.compaction_proactiveness=0 sysctl.vm.stat_interval=10 a=b", commandLine.argv().get(append + 1));
    }

    @Test
    void aDebugConsoleIsItsOwnSerialPortOnlyWhenAskedFor() {
        for (VmSpec.AgentChannel channel : VmSpec.AgentChannel.values()) {
            VmSpec spec = spec("q35", 1, 512, "", SHARED, channel);
            List<String> without = QemuCommandLine.of(spec, Accelerator.TCG, OptionalLong.of(3), TSC).argv();
            assertTrue(without.stream().noneMatch(a -> a.contains("debug")), without.toString());
            List<String> with = QemuCommandLine.of(spec.withDebugConsole(true), Accelerator.TCG, OptionalLong.of(3),
                    TSC).argv();
            assertTrue(with.contains("virtio-serial-pci,id=vserdbg"), with.toString());
            assertTrue(with.contains("socket,id=debugcon,path=" + STATE.resolve("debug-console.sock")
                    + ",server=on,wait=off"), with.toString());
            assertTrue(with.contains("virtserialport,bus=vserdbg.0,chardev=debugcon,name=debug0"), with.toString());
        }
    }

    @Test
    void q35KeepsQuiet() {
        String base = VmSpec.BASE_KERNEL_PARAMS;
        assertEquals(base + " quiet", QemuCommandLine.kernelParams(base, MachineType.Q35, "quiet"));
        assertEquals(base, QemuCommandLine.kernelParams(base, MachineType.MICROVM, "quiet"));
    }

    @Test
    void vsockWithoutCidIsRefused() {
        VmSpec spec = spec("q35", 1, 512, "", null, VmSpec.AgentChannel.VSOCK);
        var e = assertThrows(IllegalArgumentException.class,
                () -> QemuCommandLine.of(spec, Accelerator.TCG, OptionalLong.empty(), TSC));
        assertTrue(e.getMessage().contains("agentChannel=VSOCK"), e.getMessage());
    }

    @Test
    void autoMustBeResolvedBeforeBuildingArgs() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> new QemuFragment.Accel(Accelerator.AUTO, 1).args());
        assertTrue(e.getMessage().contains("accelerator=AUTO"), e.getMessage());
    }

    @Test
    void aTemplateHasItsRamInAMemfdNoPodDeviceAndZeroesFreedPages() throws IOException {
        VmSpec spec = new VmSpec("template-0123abcd", Path.of("/run/javakata/templates/0123abcd.build"),
                Path.of("/usr/bin/qemu-system-x86_64"), Path.of("/usr/share/javakata/vmlinuz"),
                Path.of("/usr/share/javakata/initrd.img"), "", 1, 512, Accelerator.AUTO, "q35", null,
                VmSpec.AgentChannel.SERIAL, Duration.ofSeconds(30)).withAgentImage(IMAGE);
        assertGolden("q35-serial-template-tcg.txt", QemuCommandLine.of(spec, Accelerator.TCG, OptionalLong.empty(),
                TSC, new QemuCommandLine.Launch.Template(Path.of("/proc/4242/fd/18")))); // its RAM: a memfd of the shim
    }

    /**
     * A clone runs in a network namespace of its own (unshare), with no tap opened by name: it gets the pod's taps as
     * descriptors on its second monitor; its share's backend is open and it waits for its state.
     */
    @Test
    void aCloneRunsInANamespaceOfItsOwnAndWaitsForItsTapsAndState() throws IOException {
        VmSpec spec = spec("q35", 1, 512, "", SHARED, VmSpec.AgentChannel.SERIAL)
                .withNetwork(Path.of("/var/run/netns/cni-1234"), List.of(new VmSpec.Nic("net0", "tap0_jk", "02:42:AC:11:00:02")))
                .withHostLimits("javakata-qemu", 1 << 20);
        assertGolden("q35-serial-clone-tcg.txt", QemuCommandLine.of(spec, Accelerator.TCG, OptionalLong.empty(), TSC,
                // its RAM: a memfd of the shim; its kernel: the template's boot header
                new QemuCommandLine.Launch.Clone(Path.of("/proc/4242/fd/17"),
                        Path.of("/run/javakata/templates/0123abcd/kernel-header"))));
    }

    /**
     * A clone with no NIC still has the second monitor its taps are handed over on: a spare VM gets its pod's NIC
     * while it runs.
     */
    @Test
    void aCloneWithoutNicHasTheTapMonitorToo() {
        VmSpec spec = spec("q35", 1, 512, "", SHARED, VmSpec.AgentChannel.SERIAL);
        List<String> argv = QemuCommandLine.of(spec, Accelerator.TCG, OptionalLong.empty(), TSC,
                new QemuCommandLine.Launch.Clone(Path.of("/p/memory"), spec.kernel())).argv();
        assertEquals(List.of("/usr/bin/unshare", "--net", "/usr/bin/qemu-system-x86_64"), argv.subList(0, 3));
        assertEquals(2, argv.stream().filter("-qmp"::equals).count(), argv.toString());
        assertTrue(argv.contains("unix:/run/javakata/sandboxes/0123abcd/qmp-taps.sock,server=on,wait=off"),
                argv.toString());
        assertFalse(argv.stream().anyMatch(a -> a.startsWith("virtio-net-pci")), argv.toString());
    }

    /** A migration stream restores only into the same devices: a clone adds backends and -incoming, nothing else. */
    @Test
    void aCloneHasTheDevicesOfItsTemplateInTheSameOrder() {
        VmSpec pod = spec("q35", 2, 1024, "agent.log=debug", SHARED, VmSpec.AgentChannel.SERIAL)
                .withNetwork(Path.of("/var/run/netns/cni-1234"), List.of(new VmSpec.Nic("net0", "tap0_jk", "02:42:AC:11:00:02")))
                .withHostLimits("javakata-qemu", 1 << 20).withDebugConsole(true);
        VmSpec template = new VmSpec("template-1", Path.of("/run/javakata/templates/1.build"), pod.vmmBinary(),
                pod.kernel(), pod.initrd(), pod.kernelParams(), pod.vcpus(), pod.memoryMiB(), pod.accelerator(),
                pod.machine(), null, pod.agentChannel(), pod.bootTimeout()).withDebugConsole(true)
                .withAgentImage(pod.agentImage());
        List<String> ofTemplate = devices(QemuCommandLine.of(template, Accelerator.TCG, OptionalLong.empty(), TSC,
                new QemuCommandLine.Launch.Template(Path.of("/t/memory"))));
        List<String> ofClone = devices(QemuCommandLine.of(pod, Accelerator.TCG, OptionalLong.empty(), TSC,
                new QemuCommandLine.Launch.Clone(Path.of("/p/memory"), pod.kernel())));
        assertEquals(ofTemplate, ofClone);
        assertTrue(ofClone.stream().noneMatch(d -> d.startsWith("vhost-user-fs") || d.startsWith("virtio-net")),
                ofClone.toString());
    }

    /** The -device and -M values of a command line, in order. */
    private static List<String> devices(QemuCommandLine commandLine) {
        List<String> argv = commandLine.argv();
        List<String> devices = new ArrayList<>();
        for (int i = 0; i + 1 < argv.size(); i++) {
            if (argv.get(i).equals("-device") || argv.get(i).equals("-M") || argv.get(i).equals("-smp")
                    || argv.get(i).equals("-m") || argv.get(i).equals("-append")) {
                devices.add(argv.get(i + 1).replaceAll("path=[^,]*", "path=*"));
            }
        }
        return devices;
    }

    /** Compares with src/test/resources/argv/RESOURCE; {@code -Dgolden.update=true} rewrites the file instead. */
    private static void assertGolden(String resource, QemuCommandLine commandLine) throws IOException {
        if (Boolean.getBoolean("golden.update")) {
            Files.writeString(Path.of("src/test/resources/argv", resource), commandLine.render());
            return;
        }
        try (InputStream in = QemuCommandLineTest.class.getResourceAsStream("/argv/" + resource)) {
            assertTrue(in != null, "missing golden file " + resource);
            assertEquals(new String(in.readAllBytes(), StandardCharsets.UTF_8), commandLine.render(), resource);
        }
    }
}
