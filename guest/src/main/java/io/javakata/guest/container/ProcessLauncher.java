package io.javakata.guest.container;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;

import io.javakata.guest.stdio.ContainerStdio;
import io.javakata.guest.stdio.FifoStdio;
import io.javakata.guest.stdio.TerminalStdio;

/**
 * Starts a container's processes through the {@link OciRuntime}, the init and an exec in the same steps: the
 * stdio the host asked for ({@link #stdio}), connected around the runtime's command ({@code create} for an init,
 * {@code exec --detach} for an exec; {@link ContainerStdio#connect}), then the pid the runtime wrote. Which
 * runtime runs them is the {@link OciRuntime}'s business alone.
 *
 * <p>Thread-safe; {@link #launch} blocks while the runtime runs.
 */
final class ProcessLauncher {

    /** What to start: a container's init from its bundle, or an exec from the OCI process in its directory. */
    sealed interface Launch {

        /** The file the runtime writes the pid to. */
        Path pidFile();

        /** {@code bundle/config.json} is the container's OCI spec. */
        record Init(String containerId, Path bundle) implements Launch {
            @Override
            public Path pidFile() {
                return bundle.resolve("init.pid");
            }
        }

        /** {@code dir/process.json} is the exec's OCI process. */
        record Exec(String containerId, Path bundle, Path dir) implements Launch {
            @Override
            public Path pidFile() {
                return dir.resolve("exec.pid");
            }
        }
    }

    /** The stdio a process asked for; {@code terminal} excludes a separate stderr. */
    record StdioRequest(boolean terminal, boolean stdin, boolean stdout, boolean stderr) {
    }

    private final OciRuntime runtime;
    private final Path consoles;
    private final AtomicLong consoleCounter = new AtomicLong();

    /**
     * @param consoles where terminal processes' console sockets go. They get short names of their own: a path
     *                 under a bundle with 64-character container and exec ids (CRI's) would overflow sun_path's
     *                 108 bytes.
     */
    ProcessLauncher(OciRuntime runtime, Path consoles) {
        this.runtime = runtime;
        this.consoles = consoles;
    }

    /** The one place the kind of stdio is chosen: a terminal, or FIFOs in {@code dir}. */
    ContainerStdio stdio(String name, Path dir, StdioRequest request) {
        return request.terminal()
                ? new TerminalStdio(name, consoles.resolve(consoleCounter.incrementAndGet() + ".sock"),
                        request.stdin(), request.stdout())
                : new FifoStdio(name, dir, request.stdin(), request.stdout(), request.stderr());
    }

    /** Runs {@code launch} with {@code stdio}; returns the pid of the process once it exists. */
    int launch(Launch launch, ContainerStdio stdio) throws IOException {
        stdio.connect(runtimeStdio -> {
            switch (launch) {
                case Launch.Init init -> runtime.create(init.containerId(), init.bundle(), init.pidFile(),
                        runtimeStdio);
                case Launch.Exec exec -> runtime.exec(exec.containerId(), exec.bundle(),
                        exec.dir().resolve("process.json"), exec.pidFile(), runtimeStdio);
            }
        });
        String pid = Files.readString(launch.pidFile(), StandardCharsets.US_ASCII).strip();
        try {
            return Integer.parseInt(pid);
        } catch (NumberFormatException e) {
            throw new IOException("pid file " + launch.pidFile() + ": \"" + pid + "\" is not a pid", e);
        }
    }
}
