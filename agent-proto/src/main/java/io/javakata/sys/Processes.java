package io.javakata.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.OptionalInt;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * Child-process bookkeeping for a subreaper (the guest agent): prctl, waitid and waitpid.
 *
 * <p>Never use these in a JVM that also starts processes it waits for through {@link Process}: the JDK
 * reaps its own children with {@code waitpid(pid)}, so a second waiter can steal their statuses.
 * {@link #waitAnyNoReap()} leaves the zombie in place so that the JDK or {@link #reap(int)} can collect
 * it, but it can still report a JDK child's pid.
 */
public final class Processes {

    private static final int PR_SET_CHILD_SUBREAPER = 36;
    private static final int P_ALL = 0;
    private static final int WNOHANG = 1;
    private static final int WEXITED = 4;
    private static final int WNOWAIT = 0x01000000;
    private static final long SI_PID = Layouts.offset(Layouts.SIGINFO, "si_pid");

    private Processes() {
    }

    /** prctl(PR_SET_CHILD_SUBREAPER, 1): orphaned descendants are reparented to this process. */
    public static void setChildSubreaper() throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = LibC.callState(arena);
            int result = (int) LibC.PRCTL.invokeExact(state, PR_SET_CHILD_SUBREAPER, 1L, 0L, 0L, 0L);
            LibC.check("prctl(PR_SET_CHILD_SUBREAPER, 1)", result, state);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw LibC.propagate(t);
        }
    }

    /**
     * Blocks until some child has exited and returns its pid without reaping it
     * ({@code waitid(P_ALL, 0, &info, WEXITED | WNOWAIT)}); -1 when there are no children (ECHILD).
     * Interrupted system calls are retried. The call pins its carrier thread: run it on a platform thread.
     */
    public static int waitAnyNoReap() throws ErrnoException {
        while (true) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment state = LibC.callState(arena);
                MemorySegment info = arena.allocate(Layouts.SIGINFO);
                int result = (int) LibC.WAITID.invokeExact(state, P_ALL, 0, info, WEXITED | WNOWAIT);
                LibC.check("waitid(P_ALL, WEXITED|WNOWAIT)", result, state);
                return info.get(JAVA_INT, SI_PID);
            } catch (ErrnoException e) {
                if (e.errno() == LibC.ECHILD) {
                    return -1;
                }
                if (e.errno() != LibC.EINTR) {
                    throw e;
                }
            } catch (Throwable t) {
                throw LibC.propagate(t);
            }
        }
    }

    /**
     * Reaps {@code pid} if it has exited ({@code waitpid(pid, &status, WNOHANG)}): its exit code, or 128 +
     * the signal that killed it, as a shell reports it; empty while it still runs.
     */
    public static OptionalInt reap(int pid) throws ErrnoException {
        while (true) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment state = LibC.callState(arena);
                MemorySegment status = arena.allocate(JAVA_INT);
                int result = (int) LibC.WAITPID.invokeExact(state, pid, status, WNOHANG);
                LibC.check("waitpid(" + pid + ", WNOHANG)", result, state);
                return result == 0 ? OptionalInt.empty() : OptionalInt.of(exitCode(status.get(JAVA_INT, 0)));
            } catch (ErrnoException e) {
                if (e.errno() != LibC.EINTR) {
                    throw e;
                }
            } catch (Throwable t) {
                throw LibC.propagate(t);
            }
        }
    }

    /** This process's pid. */
    public static int pid() {
        return (int) ProcessHandle.current().pid();
    }

    /** WIFEXITED/WEXITSTATUS/WTERMSIG of sys/wait.h, folded into one shell-style code. */
    static int exitCode(int status) {
        int termSignal = status & 0x7f;
        if (termSignal == 0) {
            return (status >> 8) & 0xff;
        }
        return 128 + termSignal;
    }
}
