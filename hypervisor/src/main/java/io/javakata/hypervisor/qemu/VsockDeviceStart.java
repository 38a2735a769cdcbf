package io.javakata.hypervisor.qemu;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Waits, over QMP, until the guest's driver has started the VM's vhost-user vsock device, before the host sends the
 * device's backend its first hybrid vsock {@code CONNECT}.
 *
 * <p><b>Why.</b> vhost-device-vsock 0.3.0 (Debian's, the only release packaged) handles a host connection by
 * processing its virtqueues at once; when the guest memory is already set but the queues are not ready yet, that
 * fails and the error ends the backend's only vring worker thread. The process keeps running and keeps accepting
 * connections, but nothing reaches the guest any more: every {@code CONNECT} goes unanswered and the pod's boot
 * times out with its agent listening. The window opens while QEMU starts the device (when the guest driver sets
 * DRIVER_OK: the memory table first, then each ring), and again whenever the guest resets it. rust-vmm/vhost-device
 * fixed it after 0.3.0 (pull request 936, "vsock: Access virtqueues only if they are ready": a queue's {@code ready()}
 * is checked before it is processed).
 *
 * <p><b>How.</b> {@code x-query-virtio} names the device's QOM path; {@code x-query-virtio-status} on it reports
 * the driver's status bits and whether QEMU has started the vhost device ({@code vhost-started}), both as of QEMU
 * 7.2's {@code qapi/virtio.json} and {@code hw/virtio/virtio.c} ({@code qmp_x_query_virtio_status}). QEMU sends the
 * ring set-up messages without waiting for the backend to act on them, so the start counts once it has been seen for
 * {@link #SETTLE}: the time the backend's own thread has to catch up, even on a loaded host. That costs a cold boot
 * nothing (its agent listens seconds after the driver starts the device). A QEMU without these commands is not
 * waited for (the risk stays as it was), and the log says so.
 */
final class VsockDeviceStart {

    /** One QMP command and its {@code return} value. */
    @FunctionalInterface
    interface Qmp {
        JsonNode execute(String command, Map<String, Object> arguments) throws IOException;
    }

    private static final System.Logger LOG = System.getLogger(VsockDeviceStart.class.getName());
    /** Between two status reads. */
    static final Duration POLL = Duration.ofMillis(50);
    /** How long the device must have been seen started before it counts. */
    static final Duration SETTLE = Duration.ofMillis(250);
    private static final String DRIVER_OK = "VIRTIO_CONFIG_S_DRIVER_OK";

    private VsockDeviceStart() {
    }

    /**
     * Returns once the device whose {@code -device … id=} is {@code deviceId} has been seen started, and still
     * started {@link #SETTLE} later (every read in between too).
     *
     * @param giveUp completed when the VM can no longer answer; the wait then ends at once
     * @throws IOException when the device is not started within {@code timeout} (naming its last status), when
     *                     {@code giveUp} completes, or when QMP fails
     */
    static void await(Qmp qmp, String deviceId, Duration timeout, CompletableFuture<?> giveUp) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        String path;
        try {
            path = devicePath(qmp.execute("x-query-virtio", Map.of()), deviceId);
        } catch (IOException e) {
            if (e.getMessage() != null && e.getMessage().contains("CommandNotFound")) {
                LOG.log(System.Logger.Level.WARNING, "this QEMU has no x-query-virtio: the first hybrid vsock "
                        + "CONNECT is not held back until the vsock device has started ({0})", e.getMessage());
                return;
            }
            throw e;
        }
        long startedSince = -1;
        String last = "not read yet";
        while (true) {
            if (giveUp.isDone()) {
                throw new IOException("gave up waiting for the guest to start its vsock device " + path
                        + " (last status: " + last + ")");
            }
            JsonNode status;
            try {
                status = qmp.execute("x-query-virtio-status", Map.of("path", path));
                last = describe(status);
            } catch (QmpClient.NoReply e) {
                // A VMM that does not answer is the boot watch's to judge (frozen, or starved of CPU); ask again.
                status = null;
                last = e.getMessage();
            }
            if (status != null && started(status)) {
                long now = System.nanoTime();
                if (startedSince < 0) {
                    startedSince = now;
                } else if (now - startedSince >= SETTLE.toNanos()) {
                    return;
                }
            } else {
                startedSince = -1;
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new IOException("the guest did not start its vsock device " + path + " within " + timeout
                        + " (last status: " + last + ")" + (status == null ? "" : ": is virtio-vsock in the guest "
                        + "kernel?"));
            }
            pause(giveUp, Math.min(POLL.toNanos(), left));
        }
    }

    /** The QOM path of the virtio device behind {@code -device …,id=deviceId}: the device itself, or its backend child. */
    static String devicePath(JsonNode devices, String deviceId) throws IOException {
        String own = "/machine/peripheral/" + deviceId;
        for (JsonNode device : devices) {
            String path = device.path("path").asText("");
            if (path.equals(own) || path.startsWith(own + "/")) {
                return path;
            }
        }
        throw new IOException("x-query-virtio lists no device " + own + " (it lists " + devices + ")");
    }

    /** QEMU has started the vhost device, and the guest driver's status has DRIVER_OK. */
    static boolean started(JsonNode status) {
        if (!status.path("vhost-started").asBoolean(false)) {
            return false;
        }
        for (JsonNode bit : status.path("status").path("statuses")) {
            if (bit.asText("").startsWith(DRIVER_OK)) {
                return true;
            }
        }
        return false;
    }

    private static String describe(JsonNode status) {
        StringBuilder bits = new StringBuilder();
        for (JsonNode bit : status.path("status").path("statuses")) {
            String text = bit.asText("");
            int colon = text.indexOf(':');
            bits.append(bits.isEmpty() ? "" : ",").append(colon < 0 ? text : text.substring(0, colon));
        }
        return "driver status [" + bits + "], vhost-started " + status.path("vhost-started").asBoolean(false);
    }

    /** Waits up to {@code nanos}, or less if {@code giveUp} completes. */
    private static void pause(CompletableFuture<?> giveUp, long nanos) throws IOException {
        try {
            giveUp.get(nanos, TimeUnit.NANOSECONDS);
        } catch (TimeoutException | ExecutionException e) {
            // the pause is over, or the caller gave up (checked by the loop)
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted waiting for the guest's vsock device");
        }
    }
}
