package io.javakata.guest.reaper;

import java.io.IOException;
import java.util.OptionalInt;

import io.javakata.sys.Processes;

/** {@link ChildWaiter} over waitid/waitpid. */
public final class SystemChildWaiter implements ChildWaiter {

    @Override
    public int waitAnyNoReap() throws IOException {
        return Processes.waitAnyNoReap();
    }

    @Override
    public OptionalInt reap(int pid) throws IOException {
        return Processes.reap(pid);
    }
}
