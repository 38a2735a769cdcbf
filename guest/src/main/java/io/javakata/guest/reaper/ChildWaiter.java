package io.javakata.guest.reaper;

import java.io.IOException;
import java.util.OptionalInt;

/** The two wait calls the {@link Reaper} needs; the real one is {@link SystemChildWaiter}. */
public interface ChildWaiter {

    /** Blocks until some child is a zombie and returns its pid without reaping it; -1 if there are no children. */
    int waitAnyNoReap() throws IOException;

    /** Reaps {@code pid}: its exit code (128 + signal for a signal), or empty if it has not exited. */
    OptionalInt reap(int pid) throws IOException;
}
