package io.javakata.hypervisor.ch;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A small HTTP/1.1 client for Cloud Hypervisor's REST API on its Unix socket
 * (cloud-hypervisor/cloud-hypervisor {@code docs/api.md}): one
 * connection per call, as Cloud Hypervisor's own {@code ch-remote} does; {@code PUT} or {@code GET
 * /api/v1/<action>}, a JSON body with its {@code Content-Length}; the answer read up to its {@code Content-Length}
 * (none means no body: 204). A status of 300 or more is a {@link ChApiException} naming the call and carrying
 * Cloud Hypervisor's own error text.
 *
 * <p>Every call has a deadline: when it passes, the connection is closed, which unblocks the read, and the call
 * fails saying how long it waited. Thread-safe: calls share nothing but the socket path.
 */
public final class ChApiClient {

    /** The most of an answer this client reads; Cloud Hypervisor's largest (vm.info) is a few KiB. */
    static final int MAX_RESPONSE_BYTES = 1024 * 1024;

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final byte[] HEADERS_END = {'\r', '\n', '\r', '\n'};
    /** Closes connections whose deadline passed; one daemon thread for every client of this JVM. */
    private static final ScheduledExecutorService DEADLINES = Executors.newSingleThreadScheduledExecutor(
            task -> Thread.ofPlatform().daemon().name("ch-api-deadlines").unstarted(task));

    private final Path socket;

    public ChApiClient(Path socket) {
        this.socket = Objects.requireNonNull(socket, "socket");
    }

    /** The API socket this client talks to. */
    public Path socket() {
        return socket;
    }

    /**
     * {@code PUT /api/v1/<action>} with {@code body} as JSON, or no body if it is null.
     *
     * @return the answer's JSON body, or null if it had none (204)
     * @throws ChApiException if Cloud Hypervisor answered with an error status
     * @throws IOException    if the socket cannot be reached, closes early or the deadline passes; the message
     *                        names the call
     */
    public JsonNode put(String action, JsonNode body, Duration timeout) throws IOException {
        byte[] bytes = body == null ? null : JSON.writeValueAsBytes(body);
        return call("PUT", action, bytes, timeout);
    }

    /** {@code GET /api/v1/<action>}; as {@link #put}. */
    public JsonNode get(String action, Duration timeout) throws IOException {
        return call("GET", action, null, timeout);
    }

    private JsonNode call(String method, String action, byte[] body, Duration timeout) throws IOException {
        Objects.requireNonNull(action, "action");
        if (timeout == null || !timeout.isPositive()) {
            throw new IllegalArgumentException("timeout=" + timeout + ": must be positive");
        }
        Response response;
        try {
            response = exchange(method, action, body, timeout);
        } catch (IOException e) {
            throw new IOException(action + " (" + method + " /api/v1/" + action + " on " + socket + "): "
                    + e.getMessage(), e);
        }
        if (response.status() >= 300) {
            throw new ChApiException(action, response.status(), response.reason(), errorText(response.body()));
        }
        if (response.body().length == 0) {
            return null;
        }
        try {
            return JSON.readTree(response.body());
        } catch (IOException e) {
            throw new IOException(action + ": Cloud Hypervisor answered " + response.status()
                    + " with a body that is not JSON: " + e.getMessage(), e);
        }
    }

    private Response exchange(String method, String action, byte[] body, Duration timeout) throws IOException {
        AtomicBoolean timedOut = new AtomicBoolean();
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            // Closing the channel is what unblocks a connect, write or read that gets no answer.
            ScheduledFuture<?> deadline = DEADLINES.schedule(() -> {
                timedOut.set(true);
                closeQuietly(channel);
            }, timeout.toNanos(), TimeUnit.NANOSECONDS);
            try {
                channel.connect(UnixDomainSocketAddress.of(socket));
                writeAll(channel, request(method, action, body));
                return Response.read(channel);
            } catch (IOException e) {
                if (timedOut.get()) {
                    throw new IOException("no complete answer within " + timeout, e);
                }
                throw e;
            } finally {
                deadline.cancel(false);
            }
        }
    }

    /** The request as Cloud Hypervisor's ch-remote writes it, with a content type for a body. */
    static byte[] request(String method, String action, byte[] body) {
        StringBuilder head = new StringBuilder()
                .append(method).append(" /api/v1/").append(action).append(" HTTP/1.1\r\n")
                .append("Host: localhost\r\n")
                .append("Accept: application/json\r\n");
        if (body != null) {
            head.append("Content-Type: application/json\r\n")
                    .append("Content-Length: ").append(body.length).append("\r\n");
        }
        head.append("\r\n");
        byte[] headBytes = head.toString().getBytes(StandardCharsets.US_ASCII);
        if (body == null) {
            return headBytes;
        }
        byte[] all = new byte[headBytes.length + body.length];
        System.arraycopy(headBytes, 0, all, 0, headBytes.length);
        System.arraycopy(body, 0, all, headBytes.length, body.length);
        return all;
    }

    private static void writeAll(SocketChannel channel, byte[] bytes) throws IOException {
        ByteBuffer buffer = ByteBuffer.wrap(bytes);
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
    }

    /**
     * Cloud Hypervisor's error body: since v53 a JSON array of its error chain, top error first (joined here with
     * ": ", as it prints them itself); before, plain text. Either is cut to 1000 characters.
     */
    static String errorText(byte[] body) {
        String text = new String(body, StandardCharsets.UTF_8).strip();
        try {
            JsonNode node = JSON.readTree(text);
            if (node != null && node.isArray()) {
                StringBuilder joined = new StringBuilder();
                node.forEach(item -> joined.append(joined.isEmpty() ? "" : ": ").append(item.asText()));
                text = joined.toString();
            } else if (node != null && node.isTextual()) {
                text = node.asText();
            }
        } catch (IOException e) {
            // not JSON: plain text, kept as it is
        }
        return text.length() <= 1000 ? text : text.substring(0, 1000) + "…";
    }

    private static void closeQuietly(SocketChannel channel) {
        try {
            channel.close();
        } catch (IOException e) {
            // closing is all that is wanted
        }
    }

    /** One HTTP response: status line, headers up to the blank line, then Content-Length bytes of body. */
    record Response(int status, String reason, byte[] body) {

        static Response read(SocketChannel channel) throws IOException {
            ByteArrayOutputStream received = new ByteArrayOutputStream();
            ByteBuffer buffer = ByteBuffer.allocate(4096);
            int headersEnd = -1;
            long contentLength = -1;
            int status = 0;
            String reason = "";
            while (true) {
                if (headersEnd < 0) {
                    headersEnd = indexOf(received.toByteArray(), HEADERS_END);
                    if (headersEnd >= 0) {
                        String head = new String(received.toByteArray(), 0, headersEnd, StandardCharsets.ISO_8859_1);
                        String[] lines = head.split("\r\n");
                        String[] statusLine = lines[0].split(" ", 3);
                        if (statusLine.length < 2 || !statusLine[0].startsWith("HTTP/1.")) {
                            throw new IOException("not an HTTP/1.x status line: '" + lines[0] + "'");
                        }
                        try {
                            status = Integer.parseInt(statusLine[1]);
                        } catch (NumberFormatException e) {
                            throw new IOException("bad status code in '" + lines[0] + "'");
                        }
                        reason = statusLine.length > 2 ? statusLine[2].strip() : "";
                        contentLength = contentLength(lines);
                        headersEnd += HEADERS_END.length;
                    }
                }
                if (headersEnd >= 0) {
                    long have = received.size() - headersEnd;
                    if (contentLength < 0 || have >= contentLength) {
                        byte[] all = received.toByteArray();
                        int length = contentLength < 0 ? 0 : (int) contentLength;
                        byte[] body = new byte[length];
                        System.arraycopy(all, headersEnd, body, 0, length);
                        return new Response(status, reason, body);
                    }
                }
                buffer.clear();
                int n = channel.read(buffer);
                if (n < 0) {
                    throw new IOException("connection closed after " + received.size() + " bytes, before the "
                            + (headersEnd < 0 ? "response headers ended" : "response body was complete"));
                }
                received.write(buffer.array(), 0, n);
                if (received.size() > MAX_RESPONSE_BYTES) {
                    throw new IOException("response larger than " + MAX_RESPONSE_BYTES + " bytes");
                }
            }
        }

        private static long contentLength(String[] lines) throws IOException {
            long length = -1;
            for (int i = 1; i < lines.length; i++) {
                int colon = lines[i].indexOf(':');
                if (colon < 0) {
                    continue;
                }
                String name = lines[i].substring(0, colon).strip().toLowerCase(Locale.ROOT);
                String value = lines[i].substring(colon + 1).strip();
                if (name.equals("transfer-encoding")) {
                    throw new IOException("unsupported Transfer-Encoding: " + value
                            + " (Cloud Hypervisor sends Content-Length)");
                }
                if (name.equals("content-length")) {
                    try {
                        length = Long.parseLong(value);
                    } catch (NumberFormatException e) {
                        throw new IOException("bad Content-Length: '" + value + "'");
                    }
                    if (length < 0 || length > MAX_RESPONSE_BYTES) {
                        throw new IOException("Content-Length " + length + " is out of range (0 to "
                                + MAX_RESPONSE_BYTES + ")");
                    }
                }
            }
            return length;
        }

        private static int indexOf(byte[] haystack, byte[] needle) {
            outer:
            for (int i = 0; i + needle.length <= haystack.length; i++) {
                for (int j = 0; j < needle.length; j++) {
                    if (haystack[i + j] != needle[j]) {
                        continue outer;
                    }
                }
                return i;
            }
            return -1;
        }
    }
}
