package io.javakata.shim.cli;

import io.containerd.task.v2.DeleteResponse;
import io.javakata.shim.config.ConfigLoader;
import io.javakata.shim.config.RuntimeConfig;
import io.javakata.shim.config.ShimContext;
import io.javakata.shim.sandbox.SandboxCleaner;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.Errors;
import io.javakata.ttrpc.RuntimeStatusException;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * {@code delete} (containerd runtime/v2/binary.go, Delete: 5 s, a raw DeleteResponse on stdout): cleans up after one
 * task whose connection containerd lost, and answers with a marshalled DeleteResponse on stdout. containerd kills it
 * after 5 s ({@code io.containerd.timeout.shim.cleanup}), so the cleanup gets a shorter budget of its own and fails
 * cleanly instead of being killed halfway through its output.
 */
final class DeleteCommand {

    static final Duration BUDGET = Duration.ofMillis(3_500);
    private static final System.Logger LOG = System.getLogger(DeleteCommand.class.getName());

    private final Flags flags;
    private final Map<String, String> env;
    private final Path bundle;

    DeleteCommand(Flags flags, Map<String, String> env, Path bundle) {
        this.flags = flags;
        this.env = env;
        this.bundle = bundle;
    }

    /**
     * Returns the DeleteResponse bytes to write to stdout. The configuration is the one start read: the file its
     * runtime options named, as start recorded it in the bundle (containerd gives delete no options), else
     * {@code $JAVAKATA_CONFIG} or the default file, which delete sees as start did.
     */
    byte[] run() throws IOException {
        RuntimeConfig config = ConfigLoader.select(ShimAddresses.readConfigRecord(bundle), env).load();
        var ctx = new ShimContext(flags.namespace(), flags.id(), flags.address(), ttrpcAddress(flags, env), bundle,
                config, flags.debug() || config.runtime().debug());
        var cleanup = new CompletableFuture<DeleteResponse>();
        Thread.ofVirtual().name("delete-" + flags.id()).start(() -> {
            try {
                DeleteResponse response = SandboxCleaner.cleanup(ctx, flags.id(), bundle);
                removeDeadShimSocket(bundle, config.runtime().stateDir());
                cleanup.complete(response);
            } catch (Throwable t) {
                cleanup.completeExceptionally(t);
            }
        });
        try {
            return cleanup.get(BUDGET.toMillis(), TimeUnit.MILLISECONDS).toByteArray();
        } catch (TimeoutException e) {
            throw Errors.deadlineExceeded("delete task %s: cleanup did not finish within %d ms", flags.id(),
                    BUDGET.toMillis());
        } catch (ExecutionException e) {
            // Main.message names what a file-system failure was (its getMessage is often the bare path).
            throw new RuntimeStatusException(Code.UNKNOWN, "delete task " + flags.id() + ": "
                    + Main.message(e.getCause()), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw Errors.unknown("delete task %s: interrupted", flags.id());
        }
    }

    /**
     * The socket the bundle's {@code address} file names, removed when nothing answers on it: a shim that was killed
     * left it (a shim that exits removes its own; containerd's runc shim leaves a killed one's until a later
     * {@code start} of the same address). Only a socket directly in the shims' directory ({@code <state_dir>/s}) is
     * touched, whatever the file says; a live pod shim's socket (a joining container's task deleted) answers and
     * stays.
     */
    static void removeDeadShimSocket(Path bundle, Path stateDir) {
        if (bundle == null) {
            return;
        }
        try {
            ShimAddresses.removeDeadSocket(bundle, stateDir.resolve("s"), StartCommand.ALIVE_TIMEOUT);
        } catch (IOException e) {
            // The task is cleaned up all the same; a stale socket only costs an inode until the next start there.
            LOG.log(System.Logger.Level.WARNING, "delete: the shim socket of bundle " + bundle + ": " + e);
        }
    }

    /** containerd passes TTRPC_ADDRESS; its value is always the gRPC address plus ".ttrpc" (runtime/v2/shim/util.go). */
    static String ttrpcAddress(Flags flags, Map<String, String> env) {
        return Optional.ofNullable(env.get("TTRPC_ADDRESS")).filter(s -> !s.isBlank())
                .orElse(flags.address() + ".ttrpc");
    }
}
