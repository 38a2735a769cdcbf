package io.javakata.sys;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * What a guest restored from a VM template must not keep from its template: the kernel RNG's state and the wall
 * clock. Linux only; needs root (CAP_SYS_ADMIN for the reseed, CAP_SYS_TIME for the clock).
 */
public final class GuestClock {

    /** random(4): {@code RNDRESEEDCRNG}, {@code _IO('R', 0x07)}: reseed the CRNG from the input pool now. */
    static final long RNDRESEEDCRNG = 0x5207;
    static final int CLOCK_REALTIME = 0;
    static final int O_WRONLY = 1;
    static final int O_CLOEXEC = 0x80000;

    private GuestClock() {
    }

    /**
     * Mixes {@code entropy} into the kernel's input pool (a write to /dev/urandom, random(4)) and forces the CRNG to
     * reseed from it ({@code RNDRESEEDCRNG}), so every later read differs from a sibling clone's.
     */
    public static void reseedRandom(Path urandom, byte[] entropy) throws IOException {
        int fd = Fds.open(urandom, O_WRONLY | O_CLOEXEC, 0);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocateFrom(java.lang.foreign.ValueLayout.JAVA_BYTE, entropy);
            long written = 0;
            while (written < entropy.length) {
                MemorySegment state = LibC.callState(arena);
                long n = (long) LibC.WRITE.invokeExact(state, fd, buffer.asSlice(written), entropy.length - written);
                written += LibC.check("write(" + urandom + ")", n, state);
            }
            MemorySegment state = LibC.callState(arena);
            int result = (int) LibC.IOCTL.invokeExact(state, fd, RNDRESEEDCRNG, 0L);
            LibC.check("ioctl(" + urandom + ", RNDRESEEDCRNG)", result, state);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw LibC.propagate(t);
        } finally {
            Fds.close(fd);
        }
    }

    /** clock_settime(2) of CLOCK_REALTIME to {@code epochNanos}. */
    public static void setRealtime(long epochNanos) throws ErrnoException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment timespec = arena.allocate(JAVA_LONG, 2);
            timespec.setAtIndex(JAVA_LONG, 0, Math.floorDiv(epochNanos, 1_000_000_000L));
            timespec.setAtIndex(JAVA_LONG, 1, Math.floorMod(epochNanos, 1_000_000_000L));
            MemorySegment state = LibC.callState(arena);
            int result = (int) LibC.CLOCK_SETTIME.invokeExact(state, CLOCK_REALTIME, timespec);
            LibC.check("clock_settime(CLOCK_REALTIME)", result, state);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw LibC.propagate(t);
        }
    }
}
