package io.javakata.shim.config;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * A {@link RuntimeConfig} as JSON with configuration.toml's tables and keys ({@code hypervisor.memory_mib}, ...), every
 * key present, defaults included, enums as the file spells them (lower case): what {@code containerd-shim-javakata-v2
 * env} prints. Stateless.
 */
public final class EffectiveConfig {

    private static final ObjectMapper JSON = new ObjectMapper();

    private EffectiveConfig() {
    }

    public static ObjectNode toJson(RuntimeConfig config) {
        ObjectNode root = JSON.createObjectNode();
        RuntimeConfig.Hypervisor hv = config.hypervisor();
        root.putObject("hypervisor")
                .put("type", RuntimeConfig.tomlName(hv.type()))
                .put("path", hv.path().toString())
                .put("kernel", hv.kernel().toString())
                .put("initrd", hv.initrd().toString())
                .put("agent_image", hv.agentImage().toString())
                .put("machine", RuntimeConfig.tomlName(hv.machine()))
                .put("accel", RuntimeConfig.tomlName(hv.accel()))
                .put("vcpus", hv.vcpus())
                .put("memory_mib", hv.memoryMiB())
                .put("kernel_params", hv.kernelParams())
                .put("boot_timeout_seconds", hv.bootTimeout().toSeconds())
                .put("run_as", hv.runAs())
                .put("console_log_max_kib", hv.consoleLogMaxKiB())
                .put("guest_lockdown", RuntimeConfig.tomlName(hv.lockdown()));
        root.putObject("virtiofsd")
                .put("path", config.virtiofsd().path().toString())
                .put("cache", RuntimeConfig.tomlName(config.virtiofsd().cache()));
        root.putObject("agent")
                .put("transport", RuntimeConfig.tomlName(config.agent().transport()))
                .put("request_timeout_seconds", config.agent().requestTimeout().toSeconds())
                .put("debug_console", config.agent().debugConsole())
                .put("vhost_device_vsock", config.agent().vhostDeviceVsock().toString());
        root.putObject("runtime")
                .put("state_dir", config.runtime().stateDir().toString())
                .put("debug", config.runtime().debug())
                .put("warm_shims", config.runtime().warmShims());
        root.putObject("template")
                .put("enabled", config.template().enabled())
                .put("max_count", config.template().maxCount())
                .put("spares", config.template().spares());
        return root;
    }

}
