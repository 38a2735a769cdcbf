package io.javakata.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** kill(2) and the x86-64 signal numbers (asm/signal.h). Thread-safe. */
public final class Signals {

    public static final int SIGHUP = 1;
    public static final int SIGINT = 2;
    public static final int SIGQUIT = 3;
    public static final int SIGKILL = 9;
    public static final int SIGUSR1 = 10;
    public static final int SIGUSR2 = 12;
    public static final int SIGPIPE = 13;
    public static final int SIGTERM = 15;
    public static final int SIGCHLD = 17;
    public static final int SIGCONT = 18;
    public static final int SIGSTOP = 19;

    private Signals() {
    }

    /** Sends {@code signal} to {@code pid}; signal 0 only checks that the process exists (ESRCH if not). */
    public static void kill(int pid, int signal) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = LibC.callState(arena);
            int result = (int) LibC.KILL.invokeExact(state, pid, signal);
            LibC.check("kill(" + pid + ", " + signal + ")", result, state);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw LibC.propagate(t);
        }
    }
}
