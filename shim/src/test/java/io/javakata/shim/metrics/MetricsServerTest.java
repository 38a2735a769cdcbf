package io.javakata.shim.metrics;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(30)
class MetricsServerTest {

    @TempDir
    Path dir;

    static String exposition(String sandbox, String pod) {
        return """
                # HELP javakata_pod_info The pod.
                # TYPE javakata_pod_info gauge
                javakata_pod_info{sandbox_id="%1$s",namespace="k8s.io",pod_name="%2$s",pod_namespace="shop",pod_uid="u"} 1
                # HELP javakata_boot_phase_seconds Phases.
                # TYPE javakata_boot_phase_seconds gauge
                javakata_boot_phase_seconds{phase="agent_ready"} 8.5
                """.formatted(sandbox, pod);
    }

    private static String raw(Path socket, String request) throws IOException {
        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            channel.connect(UnixDomainSocketAddress.of(socket));
            channel.write(ByteBuffer.wrap(request.getBytes(StandardCharsets.ISO_8859_1)));
            var out = new java.io.ByteArrayOutputStream();
            ByteBuffer buffer = ByteBuffer.allocate(4096);
            while (channel.read(buffer.clear()) >= 0) {
                out.write(buffer.array(), 0, buffer.position());
            }
            return out.toString(StandardCharsets.UTF_8);
        }
    }

    @Test
    void servesTheBodyOnGetMetricsAndNothingElse() throws Exception {
        try (MetricsServer server = MetricsServer.start(dir, () -> exposition("sb1", "web-0")).orElseThrow()) {
            assertEquals(dir.resolve("metrics.sock"), server.socket());
            assertEquals(exposition("sb1", "web-0"), MetricsScraper.get(server.socket(), Duration.ofSeconds(5)));
            String response = raw(server.socket(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
            assertTrue(response.startsWith("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; "
                    + "charset=utf-8\r\n"), response);
            assertTrue(raw(server.socket(), "GET /other HTTP/1.1\r\n\r\n").startsWith("HTTP/1.1 404 "));
            assertTrue(raw(server.socket(), "POST /metrics HTTP/1.1\r\n\r\n").startsWith("HTTP/1.1 405 "));
            var e = assertThrows(IOException.class, () -> MetricsScraper.get(dir.resolve("nothing.sock"),
                    Duration.ofSeconds(1)));
            assertTrue(e.getMessage() == null || !e.getMessage().isEmpty());
        }
        assertFalse(Files.exists(dir.resolve("metrics.sock")), "close removes the socket");
    }

    @Test
    void theNodeCommandMergesEveryPodWithItsLabels() throws Exception {
        Path state = dir.resolve("state");
        Path a = Files.createDirectories(state.resolve("sandboxes/aaa"));
        Path b = Files.createDirectories(state.resolve("sandboxes/bbb"));
        Files.createDirectories(state.resolve("sandboxes/ccc"));
        try (MetricsServer one = MetricsServer.start(a, () -> exposition("sb-a", "web-0")).orElseThrow();
             MetricsServer two = MetricsServer.start(b, () -> exposition("sb-b", "web-1")).orElseThrow()) {
            String merged = NodeMetrics.scrape(state);
            assertTrue(merged.contains("""
                    # TYPE javakata_boot_phase_seconds gauge
                    javakata_boot_phase_seconds{sandbox_id="sb-a",pod_name="web-0",pod_namespace="shop",\
                    phase="agent_ready"} 8.5
                    javakata_boot_phase_seconds{sandbox_id="sb-b",pod_name="web-1",pod_namespace="shop",\
                    phase="agent_ready"} 8.5
                    """), merged);
            assertTrue(merged.contains("javakata_pod_scrape_up{sandbox_dir=\"" + state.resolve("sandboxes/ccc")
                    + "\"} 0\n"), merged);
            assertTrue(merged.contains("javakata_pod_scrape_up{sandbox_dir=\"" + a + "\"} 1\n"), merged);
            assertEquals(1, merged.lines().filter(l -> l.equals("# TYPE javakata_pod_info gauge")).count(), merged);
            List<PromText.Family> families = PromText.parse(merged);
            assertEquals(List.of("javakata_pod_scrape_up", "javakata_pod_info", "javakata_boot_phase_seconds"),
                    families.stream().map(PromText.Family::name).toList());
            assertEquals(Map.of("sandbox_id", "sb-b", "namespace", "k8s.io", "pod_name", "web-1", "pod_namespace",
                    "shop", "pod_uid", "u"), families.get(1).samples().get(1).labels());
        }
    }

    @Test
    void noStateDirectoryMeansNoPods() throws Exception {
        assertEquals("", NodeMetrics.scrape(dir.resolve("none")));
    }
}
