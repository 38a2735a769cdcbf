package io.javakata.sys;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * Pseudo-terminal descriptors: the window size ioctls (tty_ioctl(4)) and streams over a raw pty master.
 * The JDK cannot wrap a raw descriptor in a stream, and reopening {@code /proc/self/fd/N} of a master
 * would open a new pty, so reads and writes go through read(2)/write(2).
 *
 * <p>Reads block and pin their carrier thread: read a master on a platform thread.
 */
public final class Terminals {

    static final long TIOCGWINSZ = 0x5413;
    static final long TIOCSWINSZ = 0x5414;
    /** Number of the slave of a master, into an int (asm-generic/ioctls.h _IOR('T', 0x30, unsigned int)). */
    static final long TIOCGPTN = 0x80045430L;
    /** Lock or unlock the slave, from an int (_IOW('T', 0x31, int)). */
    static final long TIOCSPTLCK = 0x40045431L;
    /** read(2) on a master whose slave side is closed everywhere fails with EIO: that is its end. */
    private static final int EIO = 5;

    private Terminals() {
    }

    /** The window size of a terminal: rows and columns. */
    public record WindowSize(int rows, int cols) {
    }

    /** ioctl(TIOCSWINSZ): the foreground process group gets SIGWINCH. */
    public static void setWindowSize(int fd, int rows, int cols) throws ErrnoException {
        if (rows < 0 || rows > 0xffff || cols < 0 || cols > 0xffff) {
            throw new IllegalArgumentException("window size " + rows + "x" + cols + ": must be 0-65535 each");
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ws = arena.allocate(UnixLayouts.WINSIZE);
            ws.fill((byte) 0);
            ws.set(JAVA_SHORT, UnixLayouts.offset(UnixLayouts.WINSIZE, "ws_row"), (short) rows);
            ws.set(JAVA_SHORT, UnixLayouts.offset(UnixLayouts.WINSIZE, "ws_col"), (short) cols);
            UnixCalls.ioctl(arena, fd, TIOCSWINSZ, ws, "ioctl(fd " + fd + ", TIOCSWINSZ " + rows + "x" + cols + ")");
        }
    }

    /** ioctl(TIOCGWINSZ). */
    public static WindowSize windowSize(int fd) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ws = arena.allocate(UnixLayouts.WINSIZE);
            UnixCalls.ioctl(arena, fd, TIOCGWINSZ, ws, "ioctl(fd " + fd + ", TIOCGWINSZ)");
            return new WindowSize(Short.toUnsignedInt(ws.get(JAVA_SHORT, UnixLayouts.offset(UnixLayouts.WINSIZE,
                    "ws_row"))), Short.toUnsignedInt(ws.get(JAVA_SHORT, UnixLayouts.offset(UnixLayouts.WINSIZE,
                    "ws_col"))));
        }
    }

    /** Unlocks the slave of a {@code /dev/ptmx} master and returns its number (N of /dev/pts/N). */
    public static int unlockSlave(int masterFd) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment value = arena.allocate(JAVA_INT);
            value.set(JAVA_INT, 0, 0);
            UnixCalls.ioctl(arena, masterFd, TIOCSPTLCK, value, "ioctl(fd " + masterFd + ", TIOCSPTLCK)");
            UnixCalls.ioctl(arena, masterFd, TIOCGPTN, value, "ioctl(fd " + masterFd + ", TIOCGPTN)");
            return value.get(JAVA_INT, 0);
        }
    }

    /**
     * A stream reading {@code fd} with read(2); EIO (a pty master whose slave was closed) reads as end of
     * stream. Closing the stream does not close the descriptor.
     */
    public static InputStream input(int fd) {
        return new InputStream() {
            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                Objects.checkFromIndexSize(off, len, b.length);
                return len == 0 ? 0 : readFd(fd, b, off, len);
            }
        };
    }

    /** A stream writing {@code fd} with write(2). Closing the stream does not close the descriptor. */
    public static OutputStream output(int fd) {
        return new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                Objects.checkFromIndexSize(off, len, b.length);
                writeFd(fd, b, off, len);
            }
        };
    }

    private static int readFd(int fd, byte[] b, int off, int len) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(len);
            MemorySegment state = LibC.callState(arena);
            while (true) {
                long n = (long) LibC.READ.invokeExact(state, fd, buffer, (long) len);
                try {
                    LibC.check("read(fd " + fd + ")", n, state);
                } catch (ErrnoException e) {
                    if (e.errno() == LibC.EINTR) {
                        continue;
                    }
                    if (e.errno() == EIO) {
                        return -1;
                    }
                    throw e;
                }
                if (n == 0) {
                    return -1;
                }
                MemorySegment.copy(buffer, JAVA_BYTE, 0, b, off, (int) n);
                return (int) n;
            }
        } catch (Throwable t) {
            throw FdPassing.rethrow(t);
        }
    }

    private static void writeFd(int fd, byte[] b, int off, int len) throws IOException {
        Fds.writeAll(fd, b, off, len);
    }
}
