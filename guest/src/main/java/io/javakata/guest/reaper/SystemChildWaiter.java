package io.javakata.guest.reaper;

import java.io.IOException;
import java.util.OptionalInt;

import io.javakata.sys.ErrnoException;
import io.javakata.sys.Processes;

/** {@link ChildWaiter} over waitid/waitpid. */
public final class SystemChildWaiter implements ChildWaiter {

    private static final int ECHILD = 10;

    @Override
    public int waitAnyNoReap() throws IOException {
        return Processes.waitAnyNoReap();
    }

    @Override
    public OptionalInt reap(int pid) throws IOException {
        try {
            return Processes.reap(pid);
        } catch (ErrnoException e) {
            if (e.errno() == ECHILD) {
                // A JDK child whose Process the JDK reaped between our waitid and this call (it
                // left the JDK set in between): already collected, nothing to do.
                return OptionalInt.empty();
            }
            throw e;
        }
    }
}
