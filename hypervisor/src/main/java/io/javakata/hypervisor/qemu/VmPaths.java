package io.javakata.hypervisor.qemu;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * The files the QEMU driver keeps in a VM's state directory (docs/architecture.md, "Paths").
 *
 * @param stateDir the VM's state directory
 */
public record VmPaths(Path stateDir) {

    /** Unix socket paths are limited to 107 bytes plus the NUL (sun_path is 108 bytes). */
    static final int MAX_SOCKET_PATH = 107;

    public VmPaths {
        Objects.requireNonNull(stateDir, "stateDir");
    }

    public Path qmpSocket() {
        return stateDir.resolve("qmp.sock");
    }

    /**
     * A clone's second QMP monitor, where the driver hands QEMU the pod's tap descriptors ({@link TapHandOver}): a
     * descriptor named by {@code getfd} belongs to the monitor that received it.
     */
    public Path tapQmpSocket() {
        return stateDir.resolve("qmp-taps.sock");
    }

    public Path agentSocket() {
        return stateDir.resolve("agent.sock");
    }

    public Path virtiofsdSocket() {
        return stateDir.resolve("virtiofsd.sock");
    }

    /**
     * The guest's serial console (ttyS0), newest part of its ring: {@link io.javakata.hypervisor.ConsoleRing}
     * keeps the older part in {@code console.log.1}.
     */
    public Path consoleLog() {
        return stateDir.resolve("console.log");
    }

    /** QEMU's end of the console: the driver connects and copies it into {@link #consoleLog()}. */
    public Path consoleSocket() {
        return stateDir.resolve("console.sock");
    }

    /**
     * QEMU's end of the guest's debug console port, when the spec has one ({@code VmSpec.debugConsole}): the
     * operator's {@code console} command connects here.
     */
    public Path debugConsoleSocket() {
        return stateDir.resolve("debug-console.sock");
    }

    /** QEMU's own stdout and stderr. */
    public Path qemuLog() {
        return stateDir.resolve("qemu.log");
    }

    /** The vhost-user socket of the VM's vsock backend (vhost-device-vsock), for the hybrid vsock channel. */
    public Path vsockBackendSocket() {
        return stateDir.resolve("vsock-backend.sock");
    }

    /** The hybrid vsock socket: the shim writes {@code CONNECT <port>} here to reach the guest's AF_VSOCK. */
    public Path hybridVsockSocket() {
        return stateDir.resolve("hvsock.sock");
    }

    public Path vsockBackendLog() {
        return stateDir.resolve("vhost-device-vsock.log");
    }

    public Path virtiofsdLog() {
        return stateDir.resolve("virtiofsd.log");
    }

    /** A VM template's RAM as a file, in its build directory (a clone's copy is a memfd: {@link CloneMemory}). */
    public Path memory() {
        return stateDir.resolve("memory");
    }

    /** Where a VM template's QEMU sends its state when it is saved. */
    public Path saveSocket() {
        return stateDir.resolve("save.sock");
    }

    /** Every socket the driver may create, for cleanup. */
    List<Path> sockets() {
        return List.of(qmpSocket(), tapQmpSocket(), agentSocket(), virtiofsdSocket(), consoleSocket(), debugConsoleSocket(),
                vsockBackendSocket(), hybridVsockSocket(), saveSocket());
    }

    /** Fails if a socket path would not fit in sun_path. */
    void checkSocketLengths() {
        for (Path socket : sockets()) {
            int length = socket.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
            if (length > MAX_SOCKET_PATH) {
                throw new IllegalArgumentException("stateDir=" + stateDir + ": socket path " + socket + " is "
                        + length + " bytes, a Unix socket path must be at most " + MAX_SOCKET_PATH);
            }
        }
    }
}
