package io.javakata.shim.container;

import io.javakata.shim.stdio.StdioPaths;
import io.javakata.shim.stdio.StdioRelay;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;

/**
 * An exec of a container (containerd's {@code Exec}): added in the guest by {@link Container#exec},
 * run by {@link #start}, forgotten in the guest and the container by {@link #delete}. Its pid is its
 * pid in the guest. Thread-safe.
 */
public final class ExecProcess extends TaskProcess {

    private static final System.Logger LOG = System.getLogger(ExecProcess.class.getName());

    private final Container container;
    private volatile long pid;

    ExecProcess(Container container, String execId, StdioPaths stdio, StdioRelay relay) {
        super(container.sandbox, container.id(), execId, stdio, relay);
        this.container = container;
    }

    /** The guest pid once started, 0 before. */
    @Override
    public long pid() {
        return pid;
    }

    @Override
    int startInGuest() {
        return sandbox.agent().startProcess(containerId(), execId());
    }

    @Override
    void started(int guestPid) {
        pid = guestPid;
    }

    @Override
    void removeEverywhere() {
        container.forget(this);
        try {
            sandbox.agent().removeProcess(containerId(), execId());
        } catch (RuntimeStatusException e) {
            if (e.code() != Code.NOT_FOUND) {
                LOG.log(System.Logger.Level.WARNING, "remove " + describe() + " in the guest: " + e.getMessage());
            }
        }
    }
}
