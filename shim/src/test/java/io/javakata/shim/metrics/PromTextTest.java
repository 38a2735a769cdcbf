package io.javakata.shim.metrics;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

@Timeout(5)
class PromTextTest {

    @Test
    void writesFamiliesWithHelpTypeAndEscapedLabels() {
        var families = new PromText.Builder()
                .family("a_total", "counter", "A count.")
                .sample("a_total", Map.of("name", "x \"y\"\\z\nw"), 3)
                .family("empty", "gauge", "Left out.")
                .family("b", "gauge", "A gauge.")
                .sample("b", Map.of(), 0.25)
                .sample("a_total", Map.of("name", "second"), 1e20)
                .build();
        assertEquals("""
                # HELP a_total A count.
                # TYPE a_total counter
                a_total{name="x \\"y\\"\\\\z\\nw"} 3
                a_total{name="second"} 1.0E20
                # HELP b A gauge.
                # TYPE b gauge
                b 0.25
                """, PromText.write(families));
    }

    @Test
    void parsesWhatItWritesHistogramsIncluded() {
        String text = """
                # HELP d_seconds How long.
                # TYPE d_seconds histogram
                d_seconds_bucket{method="Check",le="0.1"} 2
                d_seconds_bucket{method="Check",le="+Inf"} 3
                d_seconds_sum{method="Check"} 0.75
                d_seconds_count{method="Check"} 3
                # HELP info Who.
                # TYPE info gauge
                info{pod_name="web-0",odd="a,b=\\"c\\""} 1
                """;
        List<PromText.Family> families = PromText.parse(text);
        assertEquals(List.of("d_seconds", "info"), families.stream().map(PromText.Family::name).toList());
        assertEquals(4, families.getFirst().samples().size());
        assertEquals("histogram", families.getFirst().type());
        assertEquals(Double.POSITIVE_INFINITY, Double.parseDouble("Infinity"));
        assertEquals(Map.of("pod_name", "web-0", "odd", "a,b=\"c\""), families.get(1).samples().getFirst().labels());
        assertEquals(text, PromText.write(families));
    }

    @Test
    void aMalformedSampleNamesItsLine() {
        var e = assertThrows(IllegalArgumentException.class, () -> PromText.parse("# TYPE x gauge\nx{a=\"1\" 2\n"));
        assertEquals("line 2: not a sample: x{a=\"1\" 2", e.getMessage());
    }

    @Test
    void relabellingPutsThePodFirstAndKeepsOwnLabels() {
        var own = new java.util.LinkedHashMap<String, String>();
        own.put("phase", "agent_ready");
        own.put("pod_name", "own");
        var s = new PromText.Sample("x", own, 1);
        assertEquals(List.of("sandbox_id", "phase", "pod_name"),
                List.copyOf(s.withLabels(Map.of("sandbox_id", "sb", "pod_name", "other")).labels().keySet()));
        assertEquals("own", s.withLabels(Map.of("pod_name", "other")).labels().get("pod_name"));
    }
}
