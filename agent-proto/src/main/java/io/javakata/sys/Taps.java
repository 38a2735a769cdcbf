package io.javakata.sys;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * A queue of an existing tap device, as a descriptor (Linux {@code Documentation/networking/tuntap.rst}, "Network
 * device allocation"): {@code open("/dev/net/tun")}, then {@code TUNSETIFF} with the device's name attaches that
 * descriptor to the device of that name in the calling thread's network namespace. Whoever holds the descriptor then
 * reads and writes the device's frames from any network namespace and with no privilege of its own; so a VMM handed
 * one needs neither root nor the pod's network namespace to serve the pod's NIC.
 */
public final class Taps {

    static final Path TUN = Path.of("/dev/net/tun");
    /** linux/if_tun.h: {@code _IOW('T', 202, int)}. */
    static final long TUNSETIFF = 0x400454caL;
    /** linux/if_tun.h: {@code _IOR('T', 210, unsigned int)}. */
    static final long TUNGETIFF = 0x800454d2L;
    /** linux/if_tun.h: a tap (Ethernet frames), not a tun. */
    public static final int IFF_TAP = 0x0002;
    /** linux/if_tun.h: no packet information header before each frame. */
    public static final int IFF_NO_PI = 0x1000;
    /**
     * linux/if_tun.h: each frame carries a {@code virtio_net_hdr}, so checksum and segmentation offloads pass between
     * the guest's virtio-net and the host. QEMU asks for it when it opens a tap by name and probes for it on a
     * descriptor it is given ({@code -netdev tap,fd=}), so a descriptor opened with it serves the guest as before.
     */
    public static final int IFF_VNET_HDR = 0x4000;
    /** linux/if_tun.h: the device outlives its descriptors (made by {@code ip tuntap add}). */
    static final int IFF_PERSIST = 0x0800;
    /** net/if.h: a device name and its NUL. */
    static final int IFNAMSIZ = 16;
    /** {@code struct ifreq} on x86_64: the name, then a 24-byte union whose first member here is {@code ifr_flags}. */
    static final long IFREQ_BYTES = 40;

    private Taps() {
    }

    /**
     * Attaches a new descriptor (close-on-exec) to the existing tap {@code name} of the calling thread's network
     * namespace, as {@link #IFF_TAP} | {@link #IFF_NO_PI} | {@link #IFF_VNET_HDR}. Run it in the tap's namespace
     * ({@link Namespaces#inNetwork}).
     *
     * @throws IllegalArgumentException for a name that is empty, not ASCII or too long for a device
     * @throws ErrnoException           from the kernel, e.g. EPERM without CAP_NET_ADMIN, or EINVAL when
     *                                  {@code name} is a tun or a multi-queue tap
     * @throws IOException              when no persistent tap of that name exists there: {@code TUNSETIFF} makes a
     *                                  new device of an unknown name, which this closes (and so removes) again
     */
    public static int open(String name) throws IOException {
        byte[] bytes = name.getBytes(StandardCharsets.US_ASCII);
        if (bytes.length == 0 || bytes.length >= IFNAMSIZ || !name.chars().allMatch(c -> c > ' ' && c < 127 && c != '/')) {
            throw new IllegalArgumentException("tap name \"" + name + "\": must be 1 to " + (IFNAMSIZ - 1)
                    + " printable ASCII characters without '/' or spaces");
        }
        int fd = Fds.open(TUN, Fds.O_RDWR | Fds.O_CLOEXEC, 0);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ifr = arena.allocate(IFREQ_BYTES);
            ifr.fill((byte) 0);
            MemorySegment.copy(bytes, 0, ifr, JAVA_BYTE, 0, bytes.length);
            ifr.set(JAVA_SHORT, IFNAMSIZ, (short) (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR));
            UnixCalls.ioctl(arena, fd, TUNSETIFF, ifr, "ioctl(TUNSETIFF, " + name + ")");
            if ((flags(fd) & IFF_PERSIST) == 0) {
                throw new IOException("tap " + name + ": no such persistent tap in this network namespace");
            }
            return fd;
        } catch (IOException | RuntimeException e) {
            Fds.close(fd);
            throw e;
        }
    }

    /** {@code TUNGETIFF}: the IFF_ flags the descriptor's device was attached with. */
    public static int flags(int fd) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ifr = arena.allocate(IFREQ_BYTES);
            ifr.fill((byte) 0);
            UnixCalls.ioctl(arena, fd, TUNGETIFF, ifr, "ioctl(TUNGETIFF, fd " + fd + ")");
            return Short.toUnsignedInt(ifr.get(JAVA_SHORT, IFNAMSIZ));
        }
    }
}
