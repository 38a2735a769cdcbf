package io.javakata.shim.container;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(value = 10, unit = TimeUnit.SECONDS)
class GuestSpecTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path bundle;

    @Test
    void rewritesACriContainerSpecForTheGuest() throws IOException {
        Files.writeString(bundle.resolve("config.json"), resource("cri-container-config.json"));
        ObjectNode spec = GuestSpec.read(bundle);

        ObjectNode guest = GuestSpec.rewrite(spec, "/run/javakata/shared/c1/rootfs");

        String expected = resource("cri-container-config.guest.json");
        assertEquals(JSON.readTree(expected).toPrettyString(), guest.toPrettyString());
        assertTrue(spec.has("hooks"), "the input tree is left unchanged");
        assertEquals("c1-sandbox", GuestSpec.annotation(spec, "io.kubernetes.cri.sandbox-id"));
    }

    @Test
    void specWithoutRootGetsOne() {
        ObjectNode guest = GuestSpec.rewrite(JSON.createObjectNode(), "/run/javakata/shared/x/rootfs");
        assertEquals("/run/javakata/shared/x/rootfs", guest.path("root").path("path").asText());
    }

    @Test
    void unreadableSpecIsInvalidArgumentNamingTheFile() throws IOException {
        Files.writeString(bundle.resolve("config.json"), "[1, 2]");
        RuntimeStatusException e = assertThrows(RuntimeStatusException.class, () -> GuestSpec.read(bundle));
        assertEquals(Code.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("config.json"), e.getMessage());
    }

    private static String resource(String name) throws IOException {
        try (InputStream in = GuestSpecTest.class.getResourceAsStream(name)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
