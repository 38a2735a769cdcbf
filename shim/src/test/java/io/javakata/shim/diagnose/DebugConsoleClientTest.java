package io.javakata.shim.diagnose;

import io.javakata.debugconsole.DebugConsoleProtocol;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(20)
class DebugConsoleClientTest {

    @TempDir
    Path tmp;

    @Test
    void relaysAPipedScriptEndsItWithEofAndExitsWithTheShellsStatus() throws Exception {
        // The fake guest: collects input up to ^D, answers with its output and an end line cut in two.
        CompletableFuture<String> received = guest(input -> {
            String end = new String(DebugConsoleProtocol.endLine(7), StandardCharsets.US_ASCII);
            return "out: " + input.replace("\u0004", "").replace(
                    new String(DebugConsoleProtocol.SESSION_START, StandardCharsets.US_ASCII), "") + end.substring(0, 20) + "|" + end.substring(20);
        });
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int status = new DebugConsoleClient(stdin("echo hi\nexit 7"), out, false, Duration.ofSeconds(10))
                .run(tmp.resolve("debug.sock"));
        assertEquals(new String(DebugConsoleProtocol.SESSION_START, StandardCharsets.US_ASCII) + "echo hi\nexit 7\n\u0004",
                received.get(), "the session's start, the last line finished, then end of file");
        // The '|' only marks where the fake guest cut its write; the line is found across the cut.
        assertEquals(7, status, out.toString(StandardCharsets.US_ASCII));
        assertTrue(out.toString(StandardCharsets.US_ASCII).startsWith("out: echo hi\nexit 7\n"), out.toString());
    }

    @Test
    void aShellThatOutlivesThePipedInputIsAClearError() throws Exception {
        guest(input -> null);
        var e = assertThrows(IOException.class, () -> new DebugConsoleClient(stdin("sleep 999\n"),
                new ByteArrayOutputStream(), false, Duration.ofSeconds(1)).run(tmp.resolve("debug.sock")));
        assertEquals("the guest's shell did not exit within 1 s after the end of the input", e.getMessage());
    }

    @Test
    void aVmThatGoesAwayOrIsNotThereIsAClearError() throws Exception {
        guest(input -> "");
        var gone = assertThrows(IOException.class, () -> new DebugConsoleClient(stdin("x\n"),
                new ByteArrayOutputStream(), false, Duration.ofSeconds(10)).run(tmp.resolve("debug.sock")));
        assertEquals("the debug console closed: the pod's VM went away", gone.getMessage());
        var absent = assertThrows(IOException.class, () -> new DebugConsoleClient(stdin("x\n"),
                new ByteArrayOutputStream(), false, Duration.ofSeconds(10)).run(tmp.resolve("none.sock")));
        assertTrue(absent.getMessage().startsWith("connect to the debug console " + tmp.resolve("none.sock")),
                absent.getMessage());
    }

    @Test
    void aPodWithoutADebugConsoleSaysHowToGetOne() throws Exception {
        PodLookupTest.pod(tmp, "k1", "3f2a9c0011", "shop", "web-0");
        var e = assertThrows(RuntimeStatusException.class, () -> DebugConsoleClient.socketOf(tmp, "shop/web-0"));
        assertEquals(Code.FAILED_PRECONDITION, e.code());
        assertTrue(e.getMessage().contains("[agent] debug_console = false"), e.getMessage());
        Files.createFile(tmp.resolve("sandboxes/k1/debug-console.sock"));
        assertEquals(tmp.resolve("sandboxes/k1/debug-console.sock"), DebugConsoleClient.socketOf(tmp, "web-0"));
    }

    private static InputStream stdin(String text) {
        return new ByteArrayInputStream(text.getBytes(StandardCharsets.US_ASCII));
    }

    /**
     * Listens on debug.sock for one session: reads until ^D, then sends {@code answer(input)} ('|' splits it into two
     * writes) and closes; a null answer keeps the session open without a word.
     */
    private CompletableFuture<String> guest(Function<String, String> answer) throws IOException {
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(tmp.resolve("debug.sock")));
        CompletableFuture<String> received = new CompletableFuture<>();
        Thread.ofVirtual().start(() -> {
            try (server; SocketChannel session = server.accept()) {
                StringBuilder input = new StringBuilder();
                ByteBuffer buffer = ByteBuffer.allocate(256);
                while (input.indexOf("\u0004") < 0 && session.read(buffer.clear()) > 0) {
                    input.append(new String(buffer.array(), 0, buffer.position(), StandardCharsets.US_ASCII));
                }
                received.complete(input.toString());
                String reply = answer.apply(input.toString());
                if (reply == null) {
                    session.read(buffer.clear()); // until the client gives up
                    return;
                }
                for (String part : reply.split("\\|")) {
                    session.write(ByteBuffer.wrap(part.getBytes(StandardCharsets.US_ASCII)));
                }
            } catch (IOException e) {
                received.completeExceptionally(e);
            }
        });
        return received;
    }
}
