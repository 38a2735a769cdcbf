package io.javakata.shim.stdio;

/**
 * The host FIFOs containerd made for a process; an empty path means no stream.
 *
 * @param stdin    containerd writes, the shim reads
 * @param stdout   the shim writes, containerd reads
 * @param stderr   the shim writes, containerd reads
 * @param terminal the process has a tty (its stderr goes to stdout)
 */
public record StdioPaths(String stdin, String stdout, String stderr, boolean terminal) {

    public StdioPaths {
        stdin = stdin == null ? "" : stdin;
        stdout = stdout == null ? "" : stdout;
        stderr = stderr == null ? "" : stderr;
    }
}
