package io.javakata.hypervisor.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javakata.hypervisor.VmSpec;
import io.javakata.sys.Fds;
import io.javakata.sys.FdPassing;
import io.javakata.sys.Namespaces;
import io.javakata.sys.Taps;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * Gives a clone's QEMU, which runs in a network namespace of its own ({@link QemuCommandLine.Network.Own}), the pod's
 * taps as descriptors, one tap backend ({@code -netdev tap}) per NIC, before their devices are hot-plugged.
 *
 * <p>For each NIC the driver opens the tap in the pod's network namespace ({@link Taps#open}, on a thread that
 * joined it), sends the descriptor to QEMU's second QMP monitor with {@code getfd} (the descriptor rides in an
 * {@code SCM_RIGHTS} message with the command; QEMU 7.2 {@code qapi/misc.json}, "getfd"), then {@code netdev_add} with
 * {@code type=tap} and {@code fd=<that name>} ({@code qapi/net.json}, NetdevTapOptions): the tap backend takes the
 * named descriptor, probes it for {@code IFF_VNET_HDR} and serves it from then on. A named descriptor belongs to the
 * monitor that received it, so both commands go over one connection, and its own: the driver's {@link QmpClient} is a
 * JDK socket channel, which cannot send descriptors. The shim's copy of each descriptor is closed once sent.
 *
 * <p>Every read has the deadline given; any error of QEMU's ({@code {"error": …}}) fails the hand-over with its
 * {@code desc}.
 */
final class TapHandOver {

    private static final ObjectMapper JSON = new ObjectMapper();
    /** The longest line QEMU may send on this monitor before the driver gives up on it. */
    private static final int MAX_LINE = 64 * 1024;

    private final int socket;
    private final Path path;
    private final long deadline;
    private final ByteArrayOutputStream pending = new ByteArrayOutputStream();

    private TapHandOver(int socket, Path path, long deadline) {
        this.socket = socket;
        this.path = path;
        this.deadline = deadline;
    }

    /**
     * Hands QEMU, listening for QMP on {@code monitor}, one tap backend per NIC in {@code nics}, their taps opened in
     * {@code netns}, all within {@code timeout}.
     *
     * @throws IOException naming the NIC and the step that failed (no such tap, QEMU's error, the deadline)
     */
    static void handOver(Path monitor, Path netns, List<VmSpec.Nic> nics, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        int socket = FdPassing.connect(monitor);
        try {
            TapHandOver qmp = new TapHandOver(socket, monitor, deadline);
            qmp.reply("greeting");
            qmp.execute("qmp_capabilities", JSON.createObjectNode(), -1);
            for (VmSpec.Nic nic : nics) {
                int tap = -1;
                try {
                    tap = Namespaces.inNetwork(netns, () -> Taps.open(nic.tap()));
                    String name = "tap-" + nic.id();
                    qmp.execute("getfd", JSON.createObjectNode().put("fdname", name), tap);
                    qmp.execute("netdev_add", JSON.createObjectNode().put("type", "tap").put("id", nic.id())
                            .put("fd", name), -1);
                } catch (IOException e) {
                    throw new IOException("NIC " + nic.id() + " (tap " + nic.tap() + "): " + e.getMessage(), e);
                } finally {
                    if (tap >= 0) {
                        Fds.close(tap);
                    }
                }
            }
        } finally {
            Fds.close(socket);
        }
    }

    /** Sends one command (with {@code fd} attached when it is not -1) and waits for its success. */
    private void execute(String command, ObjectNode arguments, int fd) throws IOException {
        ObjectNode request = JSON.createObjectNode().put("execute", command);
        if (!arguments.isEmpty()) {
            request.set("arguments", arguments);
        }
        byte[] line = (JSON.writeValueAsString(request) + "\n").getBytes(StandardCharsets.UTF_8);
        if (fd >= 0) {
            FdPassing.sendFd(socket, fd, line);
        } else {
            Fds.writeAll(socket, line, 0, line.length);
        }
        JsonNode answer = reply(command);
        if (answer.has("error")) {
            throw new IOException("QMP " + command + ": " + answer.path("error").path("desc").asText("refused"));
        }
    }

    /** The next message that is not an event. */
    private JsonNode reply(String what) throws IOException {
        while (true) {
            JsonNode message = JSON.readTree(line(what));
            if (message == null || !message.isObject()) {
                throw new IOException("QMP " + what + ": not a JSON object from " + path);
            }
            if (!message.has("event")) {
                return message;
            }
        }
    }

    private String line(String what) throws IOException {
        byte[] buffer = new byte[4096];
        while (true) {
            byte[] seen = pending.toByteArray();
            for (int i = 0; i < seen.length; i++) {
                if (seen[i] == '\n') {
                    pending.reset();
                    pending.write(seen, i + 1, seen.length - i - 1);
                    return new String(seen, 0, i, StandardCharsets.UTF_8);
                }
            }
            if (seen.length > MAX_LINE) {
                throw new IOException("QMP " + what + ": a line of over " + MAX_LINE + " bytes from " + path);
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new IOException("QMP " + what + ": no answer from " + path + " in time");
            }
            int n = FdPassing.read(socket, buffer, Duration.ofNanos(left));
            if (n == 0) {
                throw new IOException("QMP " + what + ": " + path + " closed");
            }
            pending.write(buffer, 0, n);
        }
    }
}
