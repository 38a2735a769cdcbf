package io.javakata.shim.container;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javakata.ttrpc.Errors;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Rewrites a bundle's OCI config.json for the guest. Lenient about the spec (we touch only what we
 * must and keep every other field as it came, known to us or not):
 * <ul>
 *   <li>{@code root.path} becomes the rootfs as the guest sees it under the virtiofs share;</li>
 *   <li>{@code path} is removed from each {@code linux.namespaces} entry: a host path
 *       (/proc/&lt;pid&gt;/ns/net, /var/run/netns/cni-…) means nothing in the guest, so the guest gets a
 *       fresh namespace of that type instead (protocol-facts §6.2);</li>
 *   <li>{@code hooks} are dropped: they name host binaries.</li>
 * </ul>
 */
public final class GuestSpec {

    private static final ObjectMapper JSON = new ObjectMapper();

    private GuestSpec() {
    }

    /** Reads {@code <bundle>/config.json} as a tree; INVALID_ARGUMENT if it is not a JSON object. */
    public static ObjectNode read(Path bundle) {
        Path file = bundle.resolve("config.json");
        try {
            JsonNode tree = JSON.readTree(file.toFile());
            if (tree instanceof ObjectNode object) {
                return object;
            }
            throw Errors.invalidArgument("%s: must hold a JSON object (an OCI runtime spec)", file);
        } catch (IOException e) {
            throw Errors.invalidArgument("read %s: %s", file, e.getMessage());
        }
    }

    /** Returns a rewritten copy of {@code spec}; the input is left unchanged. */
    public static ObjectNode rewrite(ObjectNode spec, String guestRootPath) {
        ObjectNode guest = spec.deepCopy();
        JsonNode root = guest.get("root");
        ObjectNode rootObject = root instanceof ObjectNode object ? object : guest.putObject("root");
        rootObject.put("path", guestRootPath);
        guest.remove("hooks");
        for (JsonNode namespace : guest.path("linux").path("namespaces")) {
            if (namespace instanceof ObjectNode object) {
                object.remove("path");
            }
        }
        return guest;
    }

    public static byte[] toBytes(ObjectNode spec) {
        try {
            return JSON.writeValueAsBytes(spec);
        } catch (IOException e) {
            throw Errors.internal("serialise the guest spec: %s", e.getMessage());
        }
    }

    /** An annotation's value, or "" if the spec has none. */
    public static String annotation(ObjectNode spec, String key) {
        return spec.path("annotations").path(key).asText("");
    }
}
