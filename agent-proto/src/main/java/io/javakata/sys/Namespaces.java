package io.javakata.sys;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * Work done inside another network namespace. setns(2) moves only the calling thread, and a socket
 * belongs to the network namespace of the thread that creates it, so {@link #inNetwork} runs its
 * action on a fresh platform thread (a virtual thread could hop carriers) that joins the namespace
 * and then ends; sockets it opened stay in that namespace after it is gone.
 *
 * <p>Thread-safety: every call is independent; the caller's thread never changes namespace.
 */
@SuppressWarnings("restricted")
public final class Namespaces {

    /** sched.h: the network namespace type for setns. */
    public static final int CLONE_NEWNET = 0x40000000;

    private static final MethodHandle SETNS = Linker.nativeLinker().downcallHandle(
            Linker.nativeLinker().defaultLookup().find("setns")
                    .orElseThrow(() -> new UnsatisfiedLinkError("libc symbol setns not found")),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT), Linker.Option.captureCallState("errno"));

    private Namespaces() {
    }

    /**
     * Runs {@code action} on a new platform thread that has joined the network namespace
     * {@code netns} (a bind-mounted namespace file such as /var/run/netns/NAME, or
     * /proc/PID/ns/net) and returns its result.
     *
     * @throws NoSuchFileException if {@code netns} does not exist
     * @throws ErrnoException      if it is not a network namespace (EINVAL) or cannot be joined
     * @throws IOException         whatever {@code action} threw, if it was an IOException
     */
    public static <T> T inNetwork(Path netns, Callable<T> action) throws IOException {
        if (!Files.exists(netns)) {
            throw new NoSuchFileException(netns.toString(), null, "no such network namespace file");
        }
        CompletableFuture<T> result = new CompletableFuture<>();
        Thread thread = Thread.ofPlatform().name("netns-" + netns.getFileName()).daemon().unstarted(() -> {
            try {
                enter(netns, CLONE_NEWNET);
                result.complete(action.call());
            } catch (Throwable t) {
                result.completeExceptionally(t);
            }
        });
        thread.start();
        try {
            return result.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while working in network namespace " + netns, e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof IOException io) {
                throw io;
            }
            if (cause instanceof RuntimeException runtime) {
                throw runtime;
            }
            if (cause instanceof Error error) {
                throw error;
            }
            throw new IOException("in network namespace " + netns + ": " + cause, cause);
        }
    }

    /** setns(open(path), type) on the calling thread. Callers own the thread (see the class comment). */
    private static void enter(Path path, int type) throws ErrnoException {
        int fd = Fds.open(path, Fds.O_RDONLY | Fds.O_CLOEXEC, 0);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = LibC.callState(arena);
            int rc = (int) SETNS.invokeExact(state, fd, type);
            LibC.check("setns(" + path + ")", rc, state);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw LibC.propagate(t);
        } finally {
            Fds.close(fd);
        }
    }
}
