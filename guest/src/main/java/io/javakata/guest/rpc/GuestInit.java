package io.javakata.guest.rpc;

import io.javakata.agent.v1.InitGuestRequest;
import io.javakata.sys.ErrnoException;
import io.javakata.sys.GuestClock;
import io.javakata.sys.Mounts;
import io.javakata.ttrpc.Errors;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The shim's InitGuest, first after Check in every pod: what a guest restored from a VM template shares with its
 * siblings (the kernel RNG's state, a clock as old as the template) is replaced from the host, and the pod's share
 * is mounted once its hot-plugged virtio-fs device is there. A cold-booted guest gets the same (its share is
 * mounted by /init already; fresh entropy and the host's time harm nothing).
 */
final class GuestInit {

    /** The least entropy the host must send: 512 bits, a full reseed of the kernel's pool. */
    static final int MIN_ENTROPY_BYTES = 64;
    static final Path SHARE = Path.of("/run/javakata/shared");
    private static final long MOUNT_RETRY_MILLIS = 20;
    private static final System.Logger LOG = System.getLogger(GuestInit.class.getName());

    private final Path urandom;
    private final Path share;

    GuestInit(Path urandom, Path share) {
        this.urandom = urandom;
        this.share = share;
    }

    void apply(InitGuestRequest q) {
        long received = System.nanoTime();
        if (q.getEntropy().size() < MIN_ENTROPY_BYTES) {
            throw Errors.invalidArgument("entropy: %d bytes, at least %d needed", q.getEntropy().size(),
                    MIN_ENTROPY_BYTES);
        }
        try {
            GuestClock.reseedRandom(urandom, q.getEntropy().toByteArray());
        } catch (IOException e) {
            throw Errors.internal("reseed the kernel's random number generator: %s", e.getMessage());
        }
        if (q.getRealtimeNanos() > 0) {
            try {
                // The host's time when it sent the request, plus what the reseed above took here.
                GuestClock.setRealtime(q.getRealtimeNanos() + (System.nanoTime() - received));
            } catch (ErrnoException e) {
                throw Errors.internal("set the guest's clock: %s", e.getMessage());
            }
        }
        if (!q.getShareTag().isEmpty()) {
            mountShare(q.getShareTag(), Duration.ofMillis(q.getDeviceWaitMs()));
        }
    }

    /** Mounts the virtio-fs {@code tag} unless mounted; retries while the hot-plugged device probes. */
    private void mountShare(String tag, Duration wait) {
        try {
            if (Mounts.isMountPoint(share)) {
                return;
            }
            Files.createDirectories(share);
        } catch (IOException e) {
            throw Errors.internal("check %s: %s", share, e.getMessage());
        }
        long deadline = System.nanoTime() + wait.toNanos();
        long started = System.nanoTime();
        while (true) {
            try {
                Mounts.mount(tag, share.toString(), "virtiofs", 0, null);
                LOG.log(System.Logger.Level.INFO, "msg=\"share mounted\" tag={0} after_millis={1}", tag,
                        (System.nanoTime() - started) / 1_000_000);
                return;
            } catch (ErrnoException e) {
                if (System.nanoTime() - deadline > 0) {
                    throw Errors.unavailable("mount virtio-fs %s at %s: no device after %d ms: %s", tag, share,
                            wait.toMillis(), e.getMessage());
                }
            }
            try {
                Thread.sleep(MOUNT_RETRY_MILLIS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw Errors.unavailable("mount virtio-fs %s: interrupted", tag);
            }
        }
    }
}
