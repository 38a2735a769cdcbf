package io.javakata.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/** mkfifo(3): named pipes for container stdio. Thread-safe. */
public final class Fifos {

    private Fifos() {
    }

    /** Creates a FIFO at {@code path} with {@code mode} (e.g. 0600), less the umask; EEXIST if it exists. */
    public static void mkfifo(Path path, int mode) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = LibC.callState(arena);
            int result = (int) LibC.MKFIFO.invokeExact(state, arena.allocateFrom(path.toString()), mode);
            LibC.check("mkfifo(" + path + ", 0" + Integer.toOctalString(mode) + ")", result, state);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw LibC.propagate(t);
        }
    }
}
