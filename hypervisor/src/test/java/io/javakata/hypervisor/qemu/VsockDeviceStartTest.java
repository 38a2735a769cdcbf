package io.javakata.hypervisor.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The wait for a started vsock device, against replies shaped as QEMU 7.2 gives them (the fields read here, copied
 * from a real {@code x-query-virtio} and {@code x-query-virtio-status} of a vhost-user-vsock-pci device).
 */
@Timeout(30)
class VsockDeviceStartTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PCI_PATH = "/machine/peripheral/vsock0/virtio-backend";
    private static final String LIST = """
            [{"name": "virtio-balloon", "path": "/machine/peripheral-anon/device[0]/virtio-backend"},
             {"name": "vhost-vsock", "path": "%s"}]""".formatted(PCI_PATH);
    private static final String STARTED = """
            {"name": "vhost-vsock", "started": true, "vhost-started": true, "broken": false,
             "status": {"statuses": ["VIRTIO_CONFIG_S_ACKNOWLEDGE: Valid virtio device found",
               "VIRTIO_CONFIG_S_DRIVER: Guest OS compatible with device",
               "VIRTIO_CONFIG_S_FEATURES_OK: Feature negotiation complete",
               "VIRTIO_CONFIG_S_DRIVER_OK: Driver setup and ready"]}}""";
    private static final String PROBING = """
            {"name": "vhost-vsock", "started": false, "vhost-started": false, "broken": false,
             "status": {"statuses": ["VIRTIO_CONFIG_S_ACKNOWLEDGE: Valid virtio device found"]}}""";
    private static final String RESET = """
            {"name": "vhost-vsock", "started": false, "vhost-started": false, "broken": false,
             "status": {"statuses": []}}""";

    /** Answers x-query-virtio with {@link #LIST} and each x-query-virtio-status with the next reply. */
    private static final class ScriptedQmp implements VsockDeviceStart.Qmp {
        final Deque<String> statuses;
        final List<String> calls = new ArrayList<>();
        /** When each x-query-virtio-status was answered (System.nanoTime). */
        final List<Long> readAt = new ArrayList<>();
        final String last;

        ScriptedQmp(String... statuses) {
            this.statuses = new ArrayDeque<>(List.of(statuses));
            this.last = statuses[statuses.length - 1];
        }

        @Override
        public JsonNode execute(String command, Map<String, Object> arguments) throws IOException {
            calls.add(command + (arguments.isEmpty() ? "" : " " + arguments));
            return switch (command) {
                case "x-query-virtio" -> JSON.readTree(LIST);
                case "x-query-virtio-status" -> {
                    readAt.add(System.nanoTime());
                    yield JSON.readTree(statuses.isEmpty() ? last : statuses.poll());
                }
                default -> throw new IOException("qmp " + command + " failed: CommandNotFound");
            };
        }

        long statusReads() {
            return calls.stream().filter(c -> c.startsWith("x-query-virtio-status")).count();
        }
    }

    /** A start counts once it has lasted {@link VsockDeviceStart#SETTLE}; a reset in between starts the count again. */
    @Test
    void aStartedDeviceCountsOnlyOnceItHasStayedStartedForTheSettlingTime() throws IOException {
        ScriptedQmp qmp = new ScriptedQmp(PROBING, PROBING, STARTED, RESET, STARTED);
        VsockDeviceStart.await(qmp, "vsock0", Duration.ofSeconds(20), new CompletableFuture<>());
        long returned = System.nanoTime();
        assertEquals("x-query-virtio-status {path=" + PCI_PATH + "}", qmp.calls.get(1));
        // The fifth read saw the start that counted (the one before the reset did not); it had to last SETTLE.
        long lastStart = qmp.readAt.get(4);
        assertTrue(returned - lastStart >= VsockDeviceStart.SETTLE.toNanos(), (returned - lastStart) + " ns");
        assertTrue(qmp.statusReads() >= 6, qmp.calls.toString());
    }

    @Test
    void aDeviceNeverStartedFailsAtTheDeadlineNamingItsLastStatus() {
        ScriptedQmp qmp = new ScriptedQmp(PROBING);
        long began = System.nanoTime();
        IOException e = assertThrows(IOException.class, () -> VsockDeviceStart.await(qmp, "vsock0",
                Duration.ofMillis(300), new CompletableFuture<>()));
        assertTrue(System.nanoTime() - began >= Duration.ofMillis(300).toNanos());
        assertEquals("the guest did not start its vsock device " + PCI_PATH + " within PT0.3S (last status: "
                + "driver status [VIRTIO_CONFIG_S_ACKNOWLEDGE], vhost-started false): is virtio-vsock in the guest "
                + "kernel?", e.getMessage());
    }

    @Test
    void givingUpEndsTheWaitAtOnce() {
        ScriptedQmp script = new ScriptedQmp(RESET);
        CompletableFuture<String> giveUp = new CompletableFuture<>();
        VsockDeviceStart.Qmp qmp = (command, arguments) -> {
            JsonNode reply = script.execute(command, arguments);
            if (script.statusReads() == 2) {
                giveUp.complete("VM ended");
            }
            return reply;
        };
        long began = System.nanoTime();
        IOException e = assertThrows(IOException.class, () -> VsockDeviceStart.await(qmp, "vsock0",
                Duration.ofSeconds(60), giveUp));
        assertTrue(System.nanoTime() - began < Duration.ofSeconds(10).toNanos());
        assertEquals(2, script.statusReads());
        assertTrue(e.getMessage().startsWith("gave up waiting for the guest to start its vsock device " + PCI_PATH),
                e.getMessage());
    }

    /** QEMU not answering a read (frozen, or starved of CPU) is asked again; the boot watch judges a frozen VMM. */
    @Test
    void aReadWithoutAReplyIsAskedAgainAndNamedWhenTheWaitEnds() throws IOException {
        ScriptedQmp script = new ScriptedQmp(PROBING, STARTED);
        List<String> silent = new ArrayList<>();
        VsockDeviceStart.Qmp qmp = (command, arguments) -> {
            if (command.equals("x-query-virtio-status") && silent.size() < 2) {
                silent.add(command);
                throw new QmpClient.NoReply("qmp " + command + ": no reply within PT5S");
            }
            return script.execute(command, arguments);
        };
        VsockDeviceStart.await(qmp, "vsock0", Duration.ofSeconds(20), new CompletableFuture<>());
        assertEquals(2, silent.size());

        VsockDeviceStart.Qmp frozen = (command, arguments) -> {
            if (command.equals("x-query-virtio-status")) {
                throw new QmpClient.NoReply("qmp " + command + ": no reply within PT5S");
            }
            return script.execute(command, arguments);
        };
        IOException e = assertThrows(IOException.class, () -> VsockDeviceStart.await(frozen, "vsock0",
                Duration.ofMillis(200), new CompletableFuture<>()));
        assertTrue(e.getMessage().endsWith("(last status: qmp x-query-virtio-status: no reply within PT5S)"),
                e.getMessage());
    }

    @Test
    void aQemuWithoutTheQueryIsNotWaitedFor() throws IOException {
        VsockDeviceStart.Qmp old = (command, arguments) -> {
            throw new IOException("qmp " + command + " failed: CommandNotFound: The command " + command
                    + " has not been found");
        };
        VsockDeviceStart.await(old, "vsock0", Duration.ofSeconds(5), new CompletableFuture<>());
    }

    @Test
    void otherQmpFailuresAreErrors() {
        VsockDeviceStart.Qmp closed = (command, arguments) -> {
            throw new IOException("qmp " + command + " on /run/qmp.sock: connection closed");
        };
        IOException e = assertThrows(IOException.class, () -> VsockDeviceStart.await(closed, "vsock0",
                Duration.ofSeconds(5), new CompletableFuture<>()));
        assertEquals("qmp x-query-virtio on /run/qmp.sock: connection closed", e.getMessage());
    }

    @Test
    void theDeviceIsFoundByItsIdAsAPciProxysBackendOrAsAnMmioDevice() throws IOException {
        assertEquals(PCI_PATH, VsockDeviceStart.devicePath(JSON.readTree(LIST), "vsock0"));
        JsonNode mmio = JSON.readTree("[{\"name\": \"vhost-vsock\", \"path\": \"/machine/peripheral/vsock0\"}]");
        assertEquals("/machine/peripheral/vsock0", VsockDeviceStart.devicePath(mmio, "vsock0"));
        JsonNode other = JSON.readTree("[{\"name\": \"vhost-vsock\", \"path\": \"/machine/peripheral/vsock01\"}]");
        IOException e = assertThrows(IOException.class, () -> VsockDeviceStart.devicePath(other, "vsock0"));
        assertTrue(e.getMessage().startsWith("x-query-virtio lists no device /machine/peripheral/vsock0 "),
                e.getMessage());
    }

    @Test
    void startedNeedsBothTheVhostStartAndDriverOk() throws IOException {
        assertTrue(VsockDeviceStart.started(JSON.readTree(STARTED)));
        assertFalse(VsockDeviceStart.started(JSON.readTree(PROBING)));
        assertFalse(VsockDeviceStart.started(JSON.readTree(STARTED.replace("\"vhost-started\": true",
                "\"vhost-started\": false"))));
        assertFalse(VsockDeviceStart.started(JSON.readTree(STARTED.replace("VIRTIO_CONFIG_S_DRIVER_OK",
                "VIRTIO_CONFIG_S_NEEDS_RESET"))));
    }
}
