package io.javakata.guest.container;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;

import io.javakata.guest.reaper.ExitStatus;
import io.javakata.guest.stdio.ContainerStdio;

/** A process of a container the host can wait on and talk to: its init or one of its execs. */
public interface ContainerProcess {

    /**
     * How long the output of a process that is gone may stay open (held by a descendant) before the
     * exit is reported without waiting for its end ({@link ContainerStdio#outputsDrained}).
     */
    Duration OUTPUT_DRAIN = Duration.ofSeconds(2);

    String containerId();

    /** "" for the init process. */
    String execId();

    /** The pid in the guest; 0 for an exec not started yet. */
    int pid();

    ContainerStdio stdio();

    /**
     * Completes when the process exited and its stdout and stderr reached end of stream, so the host
     * has every byte it wrote once it learns about the exit; or, when a descendant keeps them open,
     * {@link #OUTPUT_DRAIN} after the exit, with every byte that arrived until then. The same future
     * for every caller.
     */
    CompletableFuture<ExitStatus> exitWithOutput();

    /** The container cgroup's {@code memory.events oom_kill} when this process started. */
    long oomKillsAtStart();
}
