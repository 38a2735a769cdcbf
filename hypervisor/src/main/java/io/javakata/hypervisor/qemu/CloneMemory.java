package io.javakata.hypervisor.qemu;

import java.nio.file.Path;

/**
 * Where a clone's RAM lives: an anonymous shared file (a memfd its shim made), reachable by root at {@link #path()}
 * ({@code /proc/<shim pid>/fd/<fd>}) while it is open. The driver fills it with a sparse copy of its template's
 * memory; QEMU opens it as its RAM ({@code memory-backend-file}, {@code share=on}) and hands it to virtiofsd. It
 * takes no room on a file system (on a node the state directory is /run, a tmpfs capped at a fraction of RAM, where
 * a file per pod would cap how many pods start from templates), its pages are charged to whoever writes them, and it
 * goes with its last holder: nothing of it is left after a crash.
 */
public interface CloneMemory extends AutoCloseable {

    /** The path root opens the file by. */
    Path path();

    /** Closes the maker's descriptor; QEMU's own keeps the RAM until it exits. Idempotent, never throws. */
    @Override
    void close();
}
