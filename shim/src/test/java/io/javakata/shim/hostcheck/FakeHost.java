package io.javakata.shim.hostcheck;

import io.javakata.hypervisor.Accelerator;
import io.javakata.hypervisor.PvmHost;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * A host in a directory for {@link HostCheck} tests: /proc, /sys, /dev and /etc files as on this machine (a PVM host
 * with cgroup v1 and root without cap_sys_resource), fake qemu and virtiofsd scripts that print a version, a kernel,
 * an initrd with its manifest, a configuration and containerd's config naming the runtime. Tests then break one thing.
 */
final class FakeHost {

    final Path root;
    final Path bin;
    final Path share;
    final Path config;
    final Path containerdConfig;

    FakeHost(Path root) throws IOException {
        this.root = root;
        this.bin = Files.createDirectories(root.resolve("usr/bin"));
        this.share = Files.createDirectories(root.resolve("usr/share/javakata"));
        write("proc/self/status", "Name:\tjava\nUid:\t0\t0\t0\t0\nCapEff:\t000001fffeffffff\n");
        write("proc/self/mountinfo", CgroupLayoutTest.HYBRID);
        write("proc/cpuinfo", "flags\t\t: fpu sse2 hypervisor\n");
        write("proc/sys/kernel/osrelease", "6.18.44-fake\n");
        write("dev/net/tun", "");
        write("etc/passwd", "root:x:0:0:root:/root:/bin/bash\njavakata-qemu:x:999:995::/nonexistent:/usr/sbin/nologin\n");
        Files.createDirectories(root.resolve("sys/module/kvm_pvm"));
        script("qemu-system-x86_64", "echo 'QEMU emulator version 7.2.22 (fake)'; echo 'Copyright'");
        script("virtiofsd", "echo 'virtiofsd version 7.2.22 (fake)'");
        write("usr/share/javakata/vmlinuz", "kernel");
        write("usr/share/javakata/initrd.img", "initrd");
        write("usr/share/javakata/agent.img", "agent image");
        try {
            GuestManifestTest.writeManifest(share.resolve("initrd.img"), share.resolve("vmlinuz"), shim().version(),
                    shim().agentProtocolSha256());
        } catch (Exception e) {
            throw new IOException(e);
        }
        config = write("etc/javakata/configuration.toml", """
                [hypervisor]
                path = "%1$s/qemu-system-x86_64"
                kernel = "%2$s/vmlinuz"
                initrd = "%2$s/initrd.img"
                agent_image = "%2$s/agent.img"
                [virtiofsd]
                path = "%1$s/virtiofsd"
                """.formatted(bin, share));
        containerdConfig = write("etc/containerd/config.toml", """
                version = 2
                [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.javakata]
                  runtime_type = "io.containerd.javakata.v2"
                """);
    }

    Path write(String relative, String text) throws IOException {
        Path file = root.resolve(relative);
        Files.createDirectories(file.getParent());
        return Files.writeString(file, text);
    }

    void script(String name, String body) throws IOException {
        Path file = bin.resolve(name);
        Files.writeString(file, "#!/bin/sh\n" + body + "\n");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    static ShimBuild shim() {
        return new ShimBuild("9.9.9", "c".repeat(64), "25", java.util.Optional.empty());
    }

    EffectiveSetup setup() {
        return EffectiveSetup.resolve(java.util.Optional.of(config), java.util.Optional.of(containerdConfig),
                java.util.Map.of());
    }

    HostCheck check() {
        // What the real probe answers on this host, a PVM host with its /dev/kvm: its KVM is refused before anything is
        // tried.
        return new HostCheck(setup(), new HostView(root), (qemu, machine) -> new Accelerator.Choice(Accelerator.TCG,
                PvmHost.check(root.resolve("sys/module")).orElse("no /dev/kvm")), shim());
    }
}
