package io.javakata.guest.container;

import java.io.IOException;
import java.nio.file.Path;

import io.javakata.guest.stdio.RuntimeStdio;

/**
 * The OCI runtime that runs the guest's containers: crun through {@link OciCli}. Every call
 * blocks until the runtime's command returned, within a bound of the implementation's, and fails with an
 * IOException that says why the runtime refused (its own error text when it gave one).
 */
public interface OciRuntime {

    /** {@code create}: makes container {@code id} from {@code bundle}; its init's pid goes to {@code pidFile}. */
    void create(String id, Path bundle, Path pidFile, RuntimeStdio stdio) throws IOException;

    /**
     * {@code exec --detach}: runs the OCI process in {@code processJson} in container {@code id}; returns once it
     * runs, its pid in {@code pidFile}.
     */
    void exec(String id, Path bundle, Path processJson, Path pidFile, RuntimeStdio stdio) throws IOException;

    /** {@code start}: lets a created container's init run its program. */
    void start(String id, Path bundle) throws IOException;

    /** {@code pause}: freezes every process of the container (cgroup freezer). */
    void pause(String id, Path bundle) throws IOException;

    void resume(String id, Path bundle) throws IOException;

    /** {@code update --resources}: {@code resources} holds OCI LinuxResources JSON. */
    void update(String id, Path bundle, Path resources) throws IOException;

    /** {@code kill}, with {@code all}: every process of the container. */
    void kill(String id, Path bundle, int signal, boolean all) throws IOException;

    /** {@code delete --force}: kills what still runs and removes the runtime's state of the container. */
    void delete(String id, Path bundle) throws IOException;
}
