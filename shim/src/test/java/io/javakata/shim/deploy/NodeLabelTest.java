package io.javakata.shim.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.net.URI;

import org.junit.jupiter.api.Test;

class NodeLabelTest {

    @Test
    void setAndRemoveAreMergePatchesOfTheLabel() {
        assertEquals("{\"metadata\":{\"labels\":{\"javakata.io/runtime\":\"installed\"}}}",
                NodeLabel.patch("javakata.io/runtime", "installed"));
        assertEquals("{\"metadata\":{\"labels\":{\"javakata.io/runtime\":null}}}", NodeLabel.patch("javakata.io/runtime", null));
    }

    @Test
    void theRequestPatchesTheNodeWithTheToken() {
        var request = NodeLabel.request(URI.create("https://10.0.0.1:443"), "node-1", "tok", "{}");
        assertEquals("PATCH", request.method());
        assertEquals(URI.create("https://10.0.0.1:443/api/v1/nodes/node-1"), request.uri());
        assertEquals("Bearer tok", request.headers().firstValue("Authorization").orElseThrow());
        assertEquals("application/merge-patch+json", request.headers().firstValue("Content-Type").orElseThrow());
    }

    @Test
    void refusesANodeNameThatIsNoName() {
        assertThrows(IllegalArgumentException.class,
                () -> NodeLabel.request(URI.create("https://h:1"), "../../x", "t", "{}"));
        assertThrows(IllegalArgumentException.class, () -> NodeLabel.patch("k\"", "v"));
    }
}
