package io.javakata.shim.hostcheck;

import io.javakata.hypervisor.qemu.KvmProbe;
import io.javakata.hypervisor.Accelerator;
import io.javakata.hypervisor.VmSpec;
import io.javakata.shim.config.RuntimeConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.stream.Collectors;

/**
 * {@code containerd-shim-javakata-v2 check}: one {@link Finding} per host requirement, in the order a pod needs them.
 * Reads the host through a {@link HostView} and runs only the hypervisor's KVM probe (cached per host boot) and the
 * binaries' {@code --version}, so it is safe on a node that runs pods. Blocking: up to the KVM probe's budget (about
 * 12 s) on its first run after a boot, well under a second after that. Stateless; thread-safe.
 */
public final class HostCheck {

    private final EffectiveSetup setup;
    private final HostView host;
    private final KvmCheck.Prober kvm;
    private final ShimBuild shim;

    HostCheck(EffectiveSetup setup, HostView host, KvmCheck.Prober kvm, ShimBuild shim) {
        this.setup = Objects.requireNonNull(setup, "setup");
        this.host = Objects.requireNonNull(host, "host");
        this.kvm = Objects.requireNonNull(kvm, "kvm");
        this.shim = Objects.requireNonNull(shim, "shim");
    }

    /** A check of this machine with the hypervisor's real KVM probe and cache. */
    public static HostCheck of(EffectiveSetup setup) {
        return new HostCheck(setup, HostView.REAL, HostCheck::probeKvm, ShimBuild.current());
    }

    /** The probe a pod's VM start runs (same cache), for {@code accel = "auto"}. */
    public static Accelerator.Choice probeKvm(Path qemu, String machine) throws IOException {
        return KvmProbe.choose(Accelerator.AUTO, qemu, machine, KvmProbe.DEFAULT_CACHE);
    }

    /** Checks every requirement. */
    public List<Finding> run() {
        RuntimeConfig config = setup.config();
        RuntimeConfig.Hypervisor hv = config.hypervisor();
        List<Finding> findings = new ArrayList<>();
        findings.add(configuration());
        Finding qemu = version("qemu", hv.path());
        findings.add(qemu);
        Finding kvmFinding = KvmCheck.check(hv.accel(), hv.path(), RuntimeConfig.tomlName(hv.machine()), kvm, host);
        findings.add(kvmFinding);
        findings.add(version("virtiofsd", config.virtiofsd().path()));
        VmSpec.AgentChannel channel = config.agent().transport().resolve(host.exists("/dev/vhost-vsock"));
        findings.add(vhostVsock(channel));
        findings.add(HostOffer.vmmsFinding(HostOffer.vmms(host, qemu, kvmFinding.detail().startsWith("KVM is usable")
                || kvmFinding.detail().contains("KVM would be usable"))));
        findings.add(HostOffer.transportsFinding(HostOffer.transports(host, config), config.agent().transport(),
                channel));
        findings.add(tun());
        findings.add(host.read("/proc/self/mountinfo").map(CgroupLayout::parse).map(CgroupLayout::finding)
                .orElse(Finding.warn("cgroup", "cannot read /proc/self/mountinfo")));
        findings.add(capabilities());
        findings.add(qemuUser(hv.runAs()));
        findings.add(setup.containerd().map(ContainerdConfig::finding).orElseGet(() -> Finding.fail(
                "containerd-config", setup.containerdError().orElse("unreadable") + ": CRI has no javakata runtime "
                        + "(give containerd's config with --containerd-config if it is elsewhere)")));
        findings.add(guestAssets(hv.kernel(), hv.initrd(), hv.agentImage()));
        return List.copyOf(findings);
    }

    private Finding configuration() {
        if (setup.configError().isPresent()) {
            return Finding.fail("configuration", setup.configError().get() + " (the rest of this check uses the "
                    + "defaults)");
        }
        if (!setup.fromFile()) {
            return Finding.ok("configuration", "no " + setup.configFile() + ": the defaults");
        }
        return Finding.ok("configuration", setup.configFile() + " (" + setup.configSource() + ")");
    }

    private static Finding version(String name, Path binary) {
        try {
            return Finding.ok(name, binary + ": " + BinaryVersion.of(binary));
        } catch (IOException e) {
            return Finding.fail(name, e.getMessage());
        }
    }

    private Finding vhostVsock(VmSpec.AgentChannel transport) {
        boolean present = host.exists("/dev/vhost-vsock");
        if (transport == VmSpec.AgentChannel.HYBRID_VSOCK) {
            return Finding.ok("vhost-vsock", (present ? "/dev/vhost-vsock is present; " : "no /dev/vhost-vsock; ")
                    + "the hybrid vsock transport does not need it (a vhost-device-vsock per pod)");
        }
        if (transport == VmSpec.AgentChannel.VSOCK) {
            return present ? Finding.ok("vhost-vsock", "/dev/vhost-vsock: the agent is reached over vsock")
                    : Finding.fail("vhost-vsock", "agent.transport = vsock but there is no /dev/vhost-vsock (load "
                    + "vhost_vsock, or set transport = \"serial\")");
        }
        return present ? Finding.ok("vhost-vsock", "/dev/vhost-vsock is present; agent.transport = serial uses "
                + "virtio-serial anyway")
                : Finding.fallback("vhost-vsock", "no /dev/vhost-vsock; fallback: the agent is reached over "
                + "virtio-serial (agent.transport = serial)");
    }

    private Finding tun() {
        return host.exists("/dev/net/tun") ? Finding.ok("tun", "/dev/net/tun: pods get a tap on their CNI network")
                : Finding.fail("tun", "no /dev/net/tun: a pod's VM cannot join its CNI network (modprobe tun)");
    }

    private Finding capabilities() {
        String status = host.read("/proc/self/status").orElse("");
        var caps = Capabilities.fromStatus(status);
        if (caps.isEmpty()) {
            return Finding.warn("capabilities", "cannot read CapEff from /proc/self/status");
        }
        String uid = status.lines().filter(l -> l.startsWith("Uid:")).map(l -> l.substring(4).strip().split("\\s+")[1])
                .findFirst().orElse("?");
        String who = "uid " + uid + " (this process; containerd runs the shim with its own)";
        List<String> missing = caps.get().missingRequired();
        if (!missing.isEmpty()) {
            return Finding.fail("capabilities", who + " lacks " + missing.stream()
                    .map(c -> c + " (" + Capabilities.REQUIRED.get(c) + ")").collect(Collectors.joining(", ")));
        }
        if (!caps.get().has(Capabilities.SYS_RESOURCE)) {
            boolean restricted = setup.containerd().map(ContainerdConfig::restrictOomScoreAdj).orElse(false);
            return restricted ? Finding.ok("capabilities", who + " has every one the shim needs; no cap_sys_resource, "
                    + "and containerd's CRI sets restrict_oom_score_adj = true")
                    : Finding.warn("capabilities", who + " has no cap_sys_resource: set restrict_oom_score_adj = true "
                    + "in containerd's CRI config, or CRI fails to start containers with a lower oom_score_adj");
        }
        return Finding.ok("capabilities", who + " has every capability the shim needs");
    }

    private Finding qemuUser(String runAs) {
        if (runAs.isEmpty()) {
            return Finding.warn("qemu-user", "hypervisor.run_as = \"\": QEMU keeps running as root");
        }
        boolean exists = host.read("/etc/passwd").map(p -> p.lines().anyMatch(l -> l.startsWith(runAs + ":")))
                .orElse(false);
        return exists ? Finding.ok("qemu-user", "QEMU drops root to " + runAs)
                : Finding.fail("qemu-user", "hypervisor.run_as = \"" + runAs + "\" is not in /etc/passwd: QEMU cannot "
                + "start (make install creates it)");
    }

    private Finding guestAssets(Path kernel, Path initrd, Path agentImage) {
        for (Path file : List.of(kernel, initrd, agentImage)) {
            if (!Files.isRegularFile(file)) {
                return Finding.fail("guest-assets", file + " does not exist (make install)");
            }
        }
        Path manifest = GuestManifest.besides(initrd);
        if (!Files.exists(manifest)) {
            return Finding.warn("guest-assets", "no " + manifest + ": cannot tell whether " + initrd.getFileName()
                    + " matches this shim (a guest built before manifests, or by hand)");
        }
        try {
            return GuestManifest.read(manifest).check(kernel, initrd, agentImage, shim);
        } catch (IOException e) {
            return Finding.fail("guest-assets", e.getMessage());
        }
    }

    /** The findings as text: one aligned line each, then a summary line. */
    public static String report(List<Finding> findings) {
        int width = findings.stream().mapToInt(f -> f.requirement().length()).max().orElse(0);
        var sb = new StringBuilder();
        for (Finding f : findings) {
            sb.append(String.format(Locale.ROOT, "%-8s %-" + width + "s  %s%n", f.verdict().label(), f.requirement(),
                    f.detail()));
        }
        sb.append(summary(findings)).append(System.lineSeparator());
        return sb.toString();
    }

    static String summary(List<Finding> findings) {
        List<String> failed = names(findings, Verdict.FAIL);
        List<String> fallbacks = names(findings, Verdict.FALLBACK);
        List<String> warnings = names(findings, Verdict.WARN);
        if (!failed.isEmpty()) {
            return "FAIL: this host cannot run javakata pods: " + String.join(", ", failed);
        }
        String extra = (fallbacks.isEmpty() ? "" : "; fallbacks: " + String.join(", ", fallbacks))
                + (warnings.isEmpty() ? "" : "; warnings: " + String.join(", ", warnings));
        return "ok: this host can run javakata pods" + extra;
    }

    /** 0 when the host can run pods (fallbacks and warnings included), 1 otherwise. */
    public static int exitCode(List<Finding> findings) {
        return names(findings, Verdict.FAIL).isEmpty() ? 0 : 1;
    }

    private static List<String> names(List<Finding> findings, Verdict verdict) {
        return findings.stream().filter(f -> f.verdict() == verdict).map(Finding::requirement).toList();
    }
}
