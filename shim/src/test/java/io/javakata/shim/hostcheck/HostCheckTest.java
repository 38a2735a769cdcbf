package io.javakata.shim.hostcheck;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(30)
class HostCheckTest {

    @TempDir
    Path root;

    @Test
    void thisMachinesShapeRunsPodsWithFallbacks() throws Exception {
        List<Finding> findings = new FakeHost(root).check().run();
        Map<String, Verdict> verdicts = findings.stream().collect(Collectors.toMap(Finding::requirement,
                Finding::verdict, (a, b) -> a, java.util.LinkedHashMap::new));
        assertEquals(List.of("configuration", "qemu", "kvm", "virtiofsd", "vhost-vsock", "vmms", "transports", "tun",
                "cgroup", "capabilities", "qemu-user", "containerd-config", "guest-assets"),
                List.copyOf(verdicts.keySet()));
        assertEquals(Verdict.FALLBACK, verdicts.get("kvm"));
        assertEquals(Verdict.FALLBACK, verdicts.get("vhost-vsock"));
        assertEquals(Verdict.WARN, verdicts.get("capabilities"));
        verdicts.forEach((name, verdict) -> {
            if (!List.of("kvm", "vhost-vsock", "capabilities").contains(name)) {
                assertEquals(Verdict.OK, verdict, name + ": " + findings);
            }
        });
        assertEquals(0, HostCheck.exitCode(findings));
        String report = HostCheck.report(findings);
        assertTrue(report.contains("ok       qemu               " + root.resolve("usr/bin/qemu-system-x86_64")
                + ": QEMU emulator version 7.2.22 (fake)\n"), report);
        assertTrue(report.contains("fallback kvm                KVM is unusable: this host's KVM is PVM (module kvm_pvm, "
                + "no kvm_intel or kvm_amd): it runs only guest kernels built for PVM, and a stock guest kernel does not "
                + "boot under it; the CPU offers no vmx/svm"), report);
        assertTrue(report.endsWith("ok: this host can run javakata pods; fallbacks: kvm, vhost-vsock; warnings: "
                + "capabilities\n"), report);
    }

    @Test
    void restrictOomScoreAdjCoversAMissingSysResource() throws Exception {
        FakeHost host = new FakeHost(root);
        host.write("etc/containerd/config.toml", """
                version = 2
                [plugins."io.containerd.grpc.v1.cri"]
                  restrict_oom_score_adj = true
                  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.javakata]
                    runtime_type = "io.containerd.javakata.v2"
                """);
        assertEquals(Verdict.OK, find(host.check().run(), "capabilities").verdict());
    }

    interface Breaker {
        void breakIt(FakeHost host) throws IOException;
    }

    static Stream<Arguments> brokenHosts() {
        return Stream.of(
                Arguments.of("tun", (Breaker) h -> Files.delete(h.root.resolve("dev/net/tun")),
                        "no /dev/net/tun: a pod's VM cannot join its CNI network (modprobe tun)"),
                Arguments.of("qemu-user", (Breaker) h -> h.write("etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
                        "hypervisor.run_as = \"javakata-qemu\" is not in /etc/passwd"),
                Arguments.of("qemu", (Breaker) h -> h.script("qemu-system-x86_64", "echo 'broken lib' >&2; exit 127"),
                        "qemu-system-x86_64 --version: exit 127: broken lib"),
                Arguments.of("virtiofsd", (Breaker) h -> Files.delete(h.bin.resolve("virtiofsd")),
                        "usr/bin/virtiofsd: does not exist"),
                Arguments.of("capabilities", (Breaker) h -> h.write("proc/self/status",
                        "Uid:\t1000\t1000\t1000\t1000\nCapEff:\t0000000000200000\n"),
                        "uid 1000 (this process; containerd runs the shim with its own) lacks cap_net_admin (the "
                                + "pod's tap and tc mirrors), cap_setuid"),
                Arguments.of("containerd-config", (Breaker) h -> h.write("etc/containerd/config.toml", "version = 2\n"),
                        "has no runtime with runtime_type = \"io.containerd.javakata.v2\""),
                Arguments.of("guest-assets", (Breaker) h -> h.write("usr/share/javakata/initrd.img", "other"),
                        "initrd.img is not the file this manifest was built with (a partial install?); reinstall"),
                Arguments.of("configuration", (Breaker) h -> Files.writeString(h.config, "[hypervisor]\nvcpus = 0\n"),
                        "hypervisor.vcpus = 0 in "));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("brokenHosts")
    void eachMissingRequirementFailsTheHostNamingWhy(String requirement, Breaker breaker, String why)
            throws Exception {
        FakeHost host = new FakeHost(root);
        breaker.breakIt(host);
        List<Finding> findings = host.check().run();
        Finding f = find(findings, requirement);
        assertEquals(Verdict.FAIL, f.verdict(), f.detail());
        assertTrue(f.detail().contains(why), f.detail());
        assertEquals(1, HostCheck.exitCode(findings));
        assertTrue(HostCheck.summary(findings).startsWith("FAIL: this host cannot run javakata pods: "),
                HostCheck.summary(findings));
        assertTrue(HostCheck.summary(findings).contains(requirement), HostCheck.summary(findings));
    }

    @Test
    void aGuestWithoutManifestWarns() throws Exception {
        FakeHost host = new FakeHost(root);
        Files.delete(host.share.resolve(GuestManifest.FILE_NAME));
        Finding f = find(host.check().run(), "guest-assets");
        assertEquals(Verdict.WARN, f.verdict());
        assertTrue(f.detail().startsWith("no " + host.share.resolve(GuestManifest.FILE_NAME) + ": cannot tell"),
                f.detail());
    }

    @Test
    void vsockConfiguredWithoutTheDeviceFails() throws Exception {
        FakeHost host = new FakeHost(root);
        Files.writeString(host.config, Files.readString(host.config) + "[agent]\ntransport = \"vsock\"\n");
        assertEquals(Verdict.FAIL, find(host.check().run(), "vhost-vsock").verdict());
        host.write("dev/vhost-vsock", "");
        assertEquals(Verdict.OK, find(host.check().run(), "vhost-vsock").verdict());
    }

    @Test
    void theVmmsAndTransportsOfThisHostAreListedWithWhyNot() throws Exception {
        FakeHost host = new FakeHost(root);
        List<Finding> findings = host.check().run();
        Finding vmms = find(findings, "vmms");
        assertEquals(Verdict.OK, vmms.verdict());
        assertTrue(vmms.detail().startsWith("qemu: usable; cloud-hypervisor: not usable (no binary at "
                + "/usr/local/bin/cloud-hypervisor or /usr/bin/cloud-hypervisor; KVM is unusable too)"), vmms.detail());
        assertEquals("serial: usable; vsock: not usable (no /dev/vhost-vsock: the vhost_vsock module is not loaded or "
                + "not available); hybrid-vsock: not usable (no executable /usr/libexec/javakata/vhost-device-vsock "
                + "(agent.vhost_device_vsock; make install puts it there)); agent.transport = \"auto\" picks serial",
                find(findings, "transports").detail());

        Files.writeString(host.config, Files.readString(host.config) + "[agent]\ntransport = \"hybrid-vsock\"\n");
        Finding transports = find(host.check().run(), "transports");
        assertEquals(Verdict.FAIL, transports.verdict());
        assertTrue(transports.detail().endsWith("agent.transport = \"hybrid-vsock\" is not usable here: pods cannot "
                + "start (set agent.transport to a usable one)"), transports.detail());
        Path backend = host.write("usr/libexec/javakata/vhost-device-vsock", "#!/bin/sh\n");
        Files.setPosixFilePermissions(backend, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        Path ch = host.write("usr/local/bin/cloud-hypervisor", "#!/bin/sh\n");
        Files.setPosixFilePermissions(ch, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        findings = host.check().run();
        assertEquals(Verdict.OK, find(findings, "transports").verdict());
        assertTrue(find(findings, "transports").detail().contains("hybrid-vsock: usable"));
        assertEquals(Verdict.OK, find(findings, "vhost-vsock").verdict());
        assertTrue(find(findings, "vmms").detail().contains("cloud-hypervisor: not usable (/usr/local/bin/"
                + "cloud-hypervisor found, but KVM is unusable)"), find(findings, "vmms").detail());
    }

    private static Finding find(List<Finding> findings, String requirement) {
        return findings.stream().filter(f -> f.requirement().equals(requirement)).findFirst().orElseThrow();
    }
}
