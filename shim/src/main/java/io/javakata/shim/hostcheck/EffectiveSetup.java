package io.javakata.shim.hostcheck;

import io.javakata.shim.config.ConfigLoader;
import io.javakata.shim.config.RuntimeConfig;
import io.javakata.ttrpc.RuntimeStatusException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;

/**
 * The configuration a pod's shim would use on this host, found the way the shim finds it: the file containerd's
 * javakata runtime names ({@code options.ConfigPath} in containerd's config), else {@code $JAVAKATA_CONFIG}, else
 * {@link RuntimeConfig#DEFAULT_PATH}; an operator's {@code --config} comes before all of them.
 *
 * @param configFile       the configuration file chosen
 * @param configSource     why that one ("--config", "ConfigPath of runtime javakata in …", "$JAVAKATA_CONFIG",
 *                         "default")
 * @param config           the configuration after defaults; the defaults alone if the file could not be loaded
 * @param configError      why the file could not be loaded, if it could not
 * @param containerdFile   containerd's config.toml that was read
 * @param containerd       what it says about javakata, if it could be read
 * @param containerdError  why it could not be read
 */
public record EffectiveSetup(Path configFile, String configSource, RuntimeConfig config, Optional<String> configError,
                             Path containerdFile, Optional<ContainerdConfig> containerd,
                             Optional<String> containerdError) {

    /** Resolves the configuration; never throws for a missing or bad file (the error is kept for the report). */
    public static EffectiveSetup resolve(Optional<Path> configFlag, Optional<Path> containerdFlag,
                                         Map<String, String> env) {
        Path containerdFile = containerdFlag.orElse(ContainerdConfig.DEFAULT);
        Optional<ContainerdConfig> containerd = Optional.empty();
        Optional<String> containerdError = Optional.empty();
        try {
            containerd = Optional.of(ContainerdConfig.read(containerdFile));
        } catch (IOException e) {
            containerdError = Optional.of(e.getMessage());
        }
        Path file;
        String source;
        boolean explicit = true;
        Optional<Path> fromContainerd = containerd.flatMap(ContainerdConfig::shimConfigPath);
        String fromEnv = env.getOrDefault(ConfigLoader.ENV_VAR, "");
        if (configFlag.isPresent()) {
            file = configFlag.get();
            source = "--config";
        } else if (fromContainerd.isPresent()) {
            file = fromContainerd.get();
            source = "ConfigPath of the javakata runtime in " + containerdFile;
        } else if (!fromEnv.isBlank()) {
            file = Path.of(fromEnv);
            source = "$" + ConfigLoader.ENV_VAR;
        } else {
            file = RuntimeConfig.DEFAULT_PATH;
            source = "default";
            explicit = false;
        }
        RuntimeConfig config = RuntimeConfig.defaults();
        Optional<String> configError = Optional.empty();
        if (explicit || Files.exists(file)) {
            try {
                config = ConfigLoader.load(file);
            } catch (RuntimeStatusException e) {
                configError = Optional.of(e.getMessage());
            }
        }
        return new EffectiveSetup(file, source, config, configError, containerdFile, containerd, containerdError);
    }

    /** Whether the configuration came from a file (false: the defaults, no file there). */
    public boolean fromFile() {
        return configError.isEmpty() && Files.exists(configFile);
    }
}
