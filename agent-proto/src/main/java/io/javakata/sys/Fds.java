package io.javakata.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/** Raw file descriptors: open(2), memfd_create(2), write(2), dup2(2), close(2), with the x86-64 flag values of asm-generic/fcntl.h. */
public final class Fds {

    private static final System.Logger LOG = System.getLogger(Fds.class.getName());

    public static final int O_RDONLY = 0;
    public static final int O_WRONLY = 1;
    public static final int O_RDWR = 2;
    public static final int O_CREAT = 0100;
    /** Opening a terminal does not make it the caller's controlling terminal. */
    public static final int O_NOCTTY = 0400;
    public static final int O_TRUNC = 01000;
    public static final int O_APPEND = 02000;
    public static final int O_NONBLOCK = 04000;
    public static final int O_CLOEXEC = 02000000;

    private Fds() {
    }

    /** open(2); {@code mode} matters only with {@link #O_CREAT}. Returns the new descriptor. */
    public static int open(Path path, int flags, int mode) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = LibC.callState(arena);
            int result = (int) LibC.OPEN.invokeExact(state, arena.allocateFrom(path.toString()), flags, mode);
            return (int) LibC.check("open(" + path + ", 0" + Integer.toOctalString(flags) + ")", result, state);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw LibC.propagate(t);
        }
    }

    /** memfd_create(2)'s MFD_CLOEXEC (include/uapi/linux/memfd.h). */
    public static final int MFD_CLOEXEC = 1;

    /**
     * memfd_create(2) with MFD_CLOEXEC: an anonymous file in RAM, sized and filled like any file, gone with its last
     * descriptor and mapping. Other root processes reach it as {@code /proc/<this pid>/fd/<fd>} while it is open.
     * Returns the new descriptor.
     */
    public static int memfd(String name) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = LibC.callState(arena);
            int result = (int) LibC.MEMFD_CREATE.invokeExact(state, arena.allocateFrom(name), MFD_CLOEXEC);
            return (int) LibC.check("memfd_create(" + name + ")", result, state);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw LibC.propagate(t);
        }
    }

    /** The most one write(2) of {@link #writeAll} copies into native memory at a time. */
    static final int WRITE_CHUNK = 64 * 1024;

    /** write(2) until all of {@code len} bytes of {@code b} from {@code off} are written, retrying on EINTR. */
    public static void writeAll(int fd, byte[] b, int off, int len) throws ErrnoException {
        writeAll(fd, b, off, len, "fd " + fd);
    }

    /**
     * As {@link #writeAll(int, byte[], int, int)}, through a native buffer of at most {@link #WRITE_CHUNK} bytes;
     * {@code what} names the descriptor in the error ("write(&lt;what&gt;): …").
     */
    static void writeAll(int fd, byte[] b, int off, int len, String what) throws ErrnoException {
        java.util.Objects.checkFromIndexSize(off, len, b.length);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(Math.max(1, Math.min(len, WRITE_CHUNK)));
            MemorySegment state = LibC.callState(arena);
            int done = 0;
            while (done < len) {
                int chunk = (int) Math.min(len - done, buffer.byteSize());
                MemorySegment.copy(b, off + done, buffer, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, chunk);
                long n = (long) LibC.WRITE.invokeExact(state, fd, buffer, (long) chunk);
                try {
                    done += (int) LibC.check("write(" + what + ")", n, state);
                } catch (ErrnoException e) {
                    if (e.errno() != LibC.EINTR) {
                        throw e;
                    }
                }
            }
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw LibC.propagate(t);
        }
    }

    /** dup2(2): makes {@code newFd} a copy of {@code oldFd}, closing what {@code newFd} was first. */
    public static void dup2(int oldFd, int newFd) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = LibC.callState(arena);
            int result = (int) LibC.DUP2.invokeExact(state, oldFd, newFd);
            LibC.check("dup2(" + oldFd + ", " + newFd + ")", result, state);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw LibC.propagate(t);
        }
    }

    /**
     * close(2). A failure is logged, not thrown: Linux releases the descriptor even when close reports an
     * error, so there is nothing for the caller to retry or undo.
     */
    public static void close(int fd) {
        try {
            closeChecked(fd);
        } catch (ErrnoException e) {
            LOG.log(System.Logger.Level.WARNING, e.getMessage());
        }
    }

    static void closeChecked(int fd) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = LibC.callState(arena);
            int result = (int) LibC.CLOSE.invokeExact(state, fd);
            LibC.check("close(" + fd + ")", result, state);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw LibC.propagate(t);
        }
    }
}
