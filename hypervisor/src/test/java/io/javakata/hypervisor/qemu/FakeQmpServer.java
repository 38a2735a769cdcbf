package io.javakata.hypervisor.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A QMP server for tests, speaking like QEMU 7.2: greeting, capabilities negotiation, CRLF lines,
 * and events interleaved with replies. Commands:
 * <ul>
 * <li>{@code echo}: an event ECHOING first, then the reply in two writes, returning the arguments;</li>
 * <li>{@code query-status}: "running";</li>
 * <li>{@code slow}: no reply until the next command arrives, then a late reply for it;</li>
 * <li>{@code quit}: SHUTDOWN event, the reply, then the connection closes;</li>
 * <li>anything else: CommandNotFound, as QEMU words it.</li>
 * </ul>
 */
final class FakeQmpServer implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final ServerSocketChannel server;
    private final Path socket;
    private final Thread thread;
    final List<JsonNode> requests = new CopyOnWriteArrayList<>();

    FakeQmpServer(Path socket) throws IOException {
        this.socket = socket;
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        thread = Thread.ofVirtual().name("fake-qmp").start(this::serve);
    }

    private void serve() {
        try (SocketChannel client = server.accept()) {
            OutputStream out = Channels.newOutputStream(client);
            BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(client),
                    StandardCharsets.UTF_8));
            send(out, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, "
                    + "\"package\": \"fake\"}, \"capabilities\": [\"oob\"]}}");
            boolean negotiated = false;
            String lateId = null;
            String line;
            while ((line = in.readLine()) != null) {
                JsonNode request = JSON.readTree(line);
                requests.add(request);
                String command = request.path("execute").asText();
                String id = request.get("id").toString();
                if (lateId != null) {
                    send(out, "{\"return\": {\"late\": true}, \"id\": " + lateId + "}");
                    lateId = null;
                }
                if (!negotiated && !command.equals("qmp_capabilities")) {
                    send(out, error("CommandNotFound",
                            "Expecting capabilities negotiation with 'qmp_capabilities'", id));
                    continue;
                }
                switch (command) {
                    case "qmp_capabilities" -> {
                        negotiated = true;
                        send(out, event("NEGOTIATED", "{}"));
                        send(out, "{\"return\": {}, \"id\": " + id + "}");
                    }
                    case "echo" -> {
                        send(out, event("ECHOING", request.path("arguments").toString()));
                        String reply = "{\"return\": " + request.path("arguments") + ", \"id\": " + id + "}\r\n";
                        int half = reply.length() / 2;
                        out.write(reply.substring(0, half).getBytes(StandardCharsets.UTF_8));
                        out.flush();
                        Thread.sleep(5);
                        out.write(reply.substring(half).getBytes(StandardCharsets.UTF_8));
                        out.flush();
                    }
                    case "query-status" -> send(out, "{\"return\": {\"status\": \"running\", \"singlestep\": false, "
                            + "\"running\": true}, \"id\": " + id + "}");
                    case "slow" -> lateId = id;
                    case "quit" -> {
                        send(out, event("SHUTDOWN", "{\"guest\": false, \"reason\": \"host-qmp-quit\"}"));
                        send(out, "{\"return\": {}, \"id\": " + id + "}");
                        return;
                    }
                    default -> send(out, error("CommandNotFound",
                            "The command " + command + " has not been found", id));
                }
            }
        } catch (IOException | InterruptedException e) {
            // the client went away or the test closed the server
        }
    }

    private static String event(String name, String data) {
        return "{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 1}, \"event\": \"" + name
                + "\", \"data\": " + data + "}";
    }

    private static String error(String type, String desc, String id) {
        return "{\"error\": {\"class\": \"" + type + "\", \"desc\": \"" + desc + "\"}, \"id\": " + id + "}";
    }

    private static synchronized void send(OutputStream out, String line) throws IOException {
        out.write((line + "\r\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    @Override
    public void close() throws IOException {
        server.close();
        thread.interrupt();
        Files.deleteIfExists(socket);
    }
}
