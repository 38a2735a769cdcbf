package io.javakata.shim.config;

import java.nio.file.Path;
import java.util.Objects;

/**
 * What one shim process knows about itself, from containerd's flags and environment.
 *
 * @param namespace         containerd namespace (-namespace)
 * @param id                the task id the shim was started for (-id)
 * @param containerdAddress containerd's gRPC socket (-address)
 * @param ttrpcAddress      containerd's ttrpc socket for events ($TTRPC_ADDRESS)
 * @param bundle            the bundle directory of the task the shim was started for
 * @param config            the loaded configuration
 * @param debug             -debug was given, or the configuration asks for debug logging
 */
public record ShimContext(String namespace, String id, String containerdAddress, String ttrpcAddress, Path bundle,
                          RuntimeConfig config, boolean debug) {
    public ShimContext {
        Objects.requireNonNull(namespace, "namespace");
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(config, "config");
    }
}
