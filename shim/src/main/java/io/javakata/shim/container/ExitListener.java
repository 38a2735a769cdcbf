package io.javakata.shim.container;

/** Told once when a process's exit is final (its output written to the host FIFOs). */
@FunctionalInterface
public interface ExitListener {

    /**
     * @param oomKilled the guest counted an OOM kill in the container's cgroup while the process ran;
     *                  TaskOOM must leave before TaskExit (CRI then records the reason OOMKilled)
     */
    void exited(ExitStatus status, boolean oomKilled);
}
