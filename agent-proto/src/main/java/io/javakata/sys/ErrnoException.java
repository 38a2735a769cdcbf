package io.javakata.sys;

import java.io.IOException;
import java.util.Map;

/**
 * A system call that returned -1, worded like Netty's {@code Errors}:
 * "mount(overlay -> /x) failed: errno 2 ENOENT (No such file or directory)".
 */
public final class ErrnoException extends IOException {

    /** Names of the errno values javakata's calls can meet (asm-generic/errno-base.h, errno.h). */
    private static final Map<Integer, String> NAMES = Map.ofEntries(
            Map.entry(1, "EPERM"), Map.entry(2, "ENOENT"), Map.entry(3, "ESRCH"), Map.entry(4, "EINTR"),
            Map.entry(5, "EIO"), Map.entry(6, "ENXIO"), Map.entry(9, "EBADF"), Map.entry(10, "ECHILD"),
            Map.entry(11, "EAGAIN"), Map.entry(12, "ENOMEM"), Map.entry(13, "EACCES"), Map.entry(14, "EFAULT"),
            Map.entry(15, "ENOTBLK"), Map.entry(16, "EBUSY"), Map.entry(17, "EEXIST"), Map.entry(18, "EXDEV"),
            Map.entry(19, "ENODEV"), Map.entry(20, "ENOTDIR"), Map.entry(21, "EISDIR"), Map.entry(22, "EINVAL"),
            Map.entry(23, "ENFILE"), Map.entry(24, "EMFILE"), Map.entry(25, "ENOTTY"), Map.entry(26, "ETXTBSY"),
            Map.entry(28, "ENOSPC"), Map.entry(30, "EROFS"), Map.entry(32, "EPIPE"), Map.entry(36, "ENAMETOOLONG"),
            Map.entry(38, "ENOSYS"), Map.entry(39, "ENOTEMPTY"), Map.entry(40, "ELOOP"), Map.entry(88, "ENOTSOCK"),
            Map.entry(93, "EPROTONOSUPPORT"), Map.entry(95, "EOPNOTSUPP"), Map.entry(97, "EAFNOSUPPORT"),
            Map.entry(98, "EADDRINUSE"), Map.entry(99, "EADDRNOTAVAIL"), Map.entry(101, "ENETUNREACH"),
            Map.entry(103, "ECONNABORTED"), Map.entry(104, "ECONNRESET"), Map.entry(107, "ENOTCONN"),
            Map.entry(110, "ETIMEDOUT"), Map.entry(111, "ECONNREFUSED"), Map.entry(113, "EHOSTUNREACH"),
            Map.entry(114, "EALREADY"), Map.entry(115, "EINPROGRESS"));

    private final int errno;

    /**
     * @param call what was called, with its arguments, e.g. "mount(overlay -> /x)"
     * @param errno the errno the call left
     */
    public ErrnoException(String call, int errno) {
        super(call + " failed: errno " + errno + " " + name(errno) + " (" + LibC.strerror(errno) + ")");
        this.errno = errno;
    }

    public int errno() {
        return errno;
    }

    /** The symbolic name of an errno ("ENOENT"), or "E?" for one outside the table. */
    public static String name(int errno) {
        return NAMES.getOrDefault(errno, "E?");
    }
}
