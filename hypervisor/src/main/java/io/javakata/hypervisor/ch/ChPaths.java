package io.javakata.hypervisor.ch;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * The files the Cloud Hypervisor driver keeps in a VM's state directory (docs/architecture.md, "Paths").
 *
 * @param stateDir the VM's state directory
 */
public record ChPaths(Path stateDir) {

    /** Unix socket paths are limited to 107 bytes plus the NUL (sun_path is 108 bytes). */
    static final int MAX_SOCKET_PATH = 107;

    public ChPaths {
        Objects.requireNonNull(stateDir, "stateDir");
    }

    /** Cloud Hypervisor's REST API ({@code --api-socket path=}). */
    public Path apiSocket() {
        return stateDir.resolve("ch-api.sock");
    }

    /**
     * The hybrid vsock socket ({@code vsock.socket}): the shim connects here and writes {@code CONNECT <port>}.
     * Cloud Hypervisor would also connect out to {@code <this>_<port>} for a guest-initiated connection; none is used.
     */
    public Path vsockSocket() {
        return stateDir.resolve("vsock.sock");
    }

    public Path virtiofsdSocket() {
        return stateDir.resolve("virtiofsd.sock");
    }

    /** Cloud Hypervisor's end of the guest's serial console ({@code serial.mode = Socket}). */
    public Path consoleSocket() {
        return stateDir.resolve("console.sock");
    }

    /** The guest's serial console (ttyS0), newest part of its ring ({@link io.javakata.hypervisor.ConsoleRing}). */
    public Path consoleLog() {
        return stateDir.resolve("console.log");
    }

    /** Cloud Hypervisor's own stdout and stderr. */
    public Path vmmLog() {
        return stateDir.resolve("cloud-hypervisor.log");
    }

    public Path virtiofsdLog() {
        return stateDir.resolve("virtiofsd.log");
    }

    /** Every socket the driver may create or that Cloud Hypervisor creates, for cleanup. */
    List<Path> sockets() {
        return List.of(apiSocket(), vsockSocket(), virtiofsdSocket(), consoleSocket());
    }

    /** Fails if a socket path would not fit in sun_path. */
    void checkSocketLengths() {
        for (Path socket : sockets()) {
            int length = socket.toString().getBytes(StandardCharsets.UTF_8).length;
            if (length > MAX_SOCKET_PATH) {
                throw new IllegalArgumentException("stateDir=" + stateDir + ": socket path " + socket + " is "
                        + length + " bytes, a Unix socket path must be at most " + MAX_SOCKET_PATH);
            }
        }
    }
}
