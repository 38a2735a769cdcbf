package io.javakata.shim.hostcheck;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javakata.hypervisor.Accelerator;
import io.javakata.shim.config.EffectiveConfig;
import io.javakata.shim.config.RuntimeConfig;

import java.io.IOException;

/**
 * {@code containerd-shim-javakata-v2 env}: the effective configuration and the versions of everything a pod runs on,
 * as one JSON object ({@code shim}, {@code configuration_file}, {@code configuration}, {@code containerd},
 * {@code host}, {@code guest}). A value that cannot be found is an {@code error} string in its place, never a failure
 * of the whole command. Blocking as {@link HostCheck} (the KVM probe, the binaries' --version).
 */
public final class HostEnv {

    private static final ObjectMapper JSON = new ObjectMapper();

    private HostEnv() {
    }

    public static ObjectNode of(EffectiveSetup setup) {
        return of(setup, HostView.REAL, HostCheck::probeKvm, ShimBuild.current());
    }

    static ObjectNode of(EffectiveSetup setup, HostView host, KvmCheck.Prober kvm, ShimBuild shim) {
        RuntimeConfig config = setup.config();
        ObjectNode root = JSON.createObjectNode();
        ObjectNode s = root.putObject("shim")
                .put("version", shim.version())
                .put("runtime_type", ContainerdConfig.RUNTIME_TYPE)
                .put("agent_protocol_sha256", shim.agentProtocolSha256())
                .put("java", shim.java());
        shim.jar().ifPresent(jar -> s.put("jar", jar.toString()));

        ObjectNode file = root.putObject("configuration_file")
                .put("path", setup.configFile().toString())
                .put("source", setup.configSource())
                .put("loaded", setup.fromFile());
        setup.configError().ifPresent(e -> file.put("error", e));
        root.set("configuration", EffectiveConfig.toJson(config));

        ObjectNode containerd = root.putObject("containerd").put("config", setup.containerdFile().toString());
        setup.containerd().ifPresent(c -> {
            var handlers = containerd.putArray("javakata_handlers");
            c.runtimes().forEach(r -> handlers.add(r.handler()));
            containerd.put("restrict_oom_score_adj", c.restrictOomScoreAdj());
        });
        setup.containerdError().ifPresent(e -> containerd.put("error", e));

        ObjectNode h = root.putObject("host")
                .put("kernel", host.read("/proc/sys/kernel/osrelease").map(String::strip).orElse("unknown"));
        version(h, "qemu", config.hypervisor().path());
        version(h, "virtiofsd", config.virtiofsd().path());
        try {
            Accelerator.Choice choice = config.hypervisor().accel() == Accelerator.TCG
                    ? new Accelerator.Choice(Accelerator.TCG, "requested by configuration")
                    : kvm.probe(config.hypervisor().path(), RuntimeConfig.tomlName(config.hypervisor().machine()));
            h.put("accelerator", choice.accelerator().name().toLowerCase(java.util.Locale.ROOT))
                    .put("accelerator_reason", choice.reason());
        } catch (IOException e) {
            h.put("accelerator_error", e.getMessage());
        }
        h.put("vhost_vsock", host.exists("/dev/vhost-vsock"));

        ObjectNode guest = root.putObject("guest").put("manifest",
                GuestManifest.besides(config.hypervisor().initrd()).toString());
        try {
            guest.setAll((ObjectNode) JSON.valueToTree(GuestManifest.read(
                    GuestManifest.besides(config.hypervisor().initrd()))));
        } catch (IOException e) {
            guest.put("error", e.getMessage());
        }
        return root;
    }

    private static void version(ObjectNode node, String name, java.nio.file.Path binary) {
        try {
            node.put(name, BinaryVersion.of(binary));
        } catch (IOException e) {
            node.put(name + "_error", e.getMessage());
        }
    }
}
