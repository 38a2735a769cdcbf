package io.javakata.guest.container;

import java.nio.file.Path;

import io.javakata.guest.stdio.ContainerStdio;

/**
 * An extra process run in a container with the runtime's {@code exec --detach} (containerd's exec). It starts
 * {@link ProcessState#REGISTERED} (ExecProcess), is STARTING while the runtime runs it (StartContainer with its exec
 * id), RUNNING once its pid is known and EXITED when reaped or when its start failed. Thread-safe.
 */
public final class ExecProcess extends ContainerProcess {

    private final Path dir;

    ExecProcess(String containerId, String execId, Path dir, ContainerStdio stdio) {
        super(containerId, execId, stdio, ProcessState.REGISTERED, 0, 0);
        this.dir = dir;
    }

    /** The directory holding process.json, the pid file and the FIFOs. */
    Path dir() {
        return dir;
    }
}
