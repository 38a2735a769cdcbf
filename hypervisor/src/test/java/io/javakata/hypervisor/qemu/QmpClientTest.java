package io.javakata.hypervisor.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(20)
class QmpClientTest {

    private static final Duration T = Duration.ofSeconds(5);

    @TempDir
    Path dir;

    @Test
    void negotiatesAndMatchesRepliesWhileEventsInterleave() throws Exception {
        try (FakeQmpServer server = new FakeQmpServer(dir.resolve("qmp.sock"));
             QmpClient qmp = QmpClient.connect(dir.resolve("qmp.sock"), T)) {
            List<String> events = new CopyOnWriteArrayList<>();
            qmp.onEvent(e -> events.add(e.path("event").asText()));
            assertEquals(7, qmp.greeting().path("version").path("qemu").path("major").asInt());

            JsonNode reply = qmp.execute("echo", Map.of("word", "hello"), T);
            assertEquals("hello", reply.path("word").asText());
            assertEquals("running", qmp.execute("query-status", null, T).path("status").asText());
            assertTrue(events.contains("ECHOING"), events.toString());

            assertEquals("qmp_capabilities", server.requests.getFirst().path("execute").asText());
            server.requests.forEach(r -> assertTrue(r.has("id"), "every command carries an id: " + r));
            assertEquals(3, server.requests.stream().map(r -> r.get("id").asLong()).distinct().count());
        }
    }

    @Test
    void errorReplyNamesTheCommandTheClassAndTheDesc() throws Exception {
        try (FakeQmpServer _ = new FakeQmpServer(dir.resolve("qmp.sock"));
             QmpClient qmp = QmpClient.connect(dir.resolve("qmp.sock"), T)) {
            IOException e = assertThrows(IOException.class, () -> qmp.execute("device_del", Map.of("id", "x"), T));
            assertEquals("qmp device_del failed: CommandNotFound: The command device_del has not been found",
                    e.getMessage());
            assertEquals("running", qmp.execute("query-status", Map.of(), T).path("status").asText());
        }
    }

    @Test
    void timeoutFailsOneCommandAndALateReplyIsIgnored() throws Exception {
        try (FakeQmpServer _ = new FakeQmpServer(dir.resolve("qmp.sock"));
             QmpClient qmp = QmpClient.connect(dir.resolve("qmp.sock"), T)) {
            IOException e = assertThrows(IOException.class, () -> qmp.execute("slow", Map.of(),
                    Duration.ofMillis(200)));
            assertEquals("qmp slow: no reply within PT0.2S", e.getMessage());
            // The late reply to "slow" arrives first; it must not be taken for this one.
            assertEquals("again", qmp.execute("echo", Map.of("word", "again"), T).path("word").asText());
        }
    }

    @Test
    void quitGetsItsReplyThenTheClosedConnectionFailsFurtherCommands() throws Exception {
        try (FakeQmpServer _ = new FakeQmpServer(dir.resolve("qmp.sock"));
             QmpClient qmp = QmpClient.connect(dir.resolve("qmp.sock"), T)) {
            List<JsonNode> events = new CopyOnWriteArrayList<>();
            qmp.onEvent(events::add);
            assertTrue(qmp.execute("quit", Map.of(), T).isEmpty());
            qmp.onDisconnect().get();
            assertEquals("host-qmp-quit", events.getLast().path("data").path("reason").asText());
            IOException e = assertThrows(IOException.class, () -> qmp.execute("query-status", Map.of(), T));
            assertTrue(e.getMessage().contains("connection closed"), e.getMessage());
        }
    }

    @Test
    void concurrentCallersEachGetTheirOwnReply() throws Exception {
        try (FakeQmpServer _ = new FakeQmpServer(dir.resolve("qmp.sock"));
             QmpClient qmp = QmpClient.connect(dir.resolve("qmp.sock"), T);
             ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<String>> replies = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                String word = "w" + i;
                replies.add(pool.submit(() -> qmp.execute("echo", Map.of("word", word), T).path("word").asText()));
            }
            for (int i = 0; i < 20; i++) {
                assertEquals("w" + i, replies.get(i).get());
            }
        }
    }

    @Test
    void connectingToNoSocketFails() {
        assertThrows(IOException.class, () -> QmpClient.connect(dir.resolve("absent.sock"), T));
    }
}
