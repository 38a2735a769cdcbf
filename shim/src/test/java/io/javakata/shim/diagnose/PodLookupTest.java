package io.javakata.shim.diagnose;

import io.javakata.shim.sandbox.SandboxState;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(10)
class PodLookupTest {

    @TempDir
    Path state;

    static Path pod(Path state, String key, String sandboxId, String namespace, String name) throws Exception {
        Path dir = Files.createDirectories(state.resolve("sandboxes").resolve(key));
        Files.writeString(dir.resolve("timeline.json"), """
                {"pod": {"sandbox_id": "%s", "namespace": "k8s.io", "pod_name": "%s", "pod_namespace": "%s",
                 "pod_uid": "u"}, "origin": "2026-11-29T01:00:00Z", "phases": []}
                """.formatted(sandboxId, name, namespace));
        return dir;
    }

    @Test
    void findsAPodByEveryNameAnOperatorKnows() throws Exception {
        Path web = pod(state, "k1", "3f2a9c0011", "shop", "web-0");
        pod(state, "k2", "77aa000022", "blog", "web-0");
        Path old = Files.createDirectories(state.resolve("sandboxes/k3"));
        new SandboxState("c0ffee0033", "default", 1, 1, old.toString(), List.of()).write(old.resolve("sandbox.json"));
        Files.createDirectories(state.resolve("sandboxes/k4-being-made"));

        assertEquals(web, PodLookup.find(state, "shop/web-0").dir());
        assertEquals(web, PodLookup.find(state, "3f2a9c0011").dir());
        assertEquals(web, PodLookup.find(state, "3f2a").dir());
        assertEquals(web, PodLookup.find(state, "k1").dir());
        assertEquals(old, PodLookup.find(state, "c0ffee").dir());
        assertEquals("c0ffee0033", PodLookup.find(state, "c0ffee").identity().sandboxId());
        assertEquals(3, PodLookup.list(state).size());

        var several = assertThrows(RuntimeStatusException.class, () -> PodLookup.find(state, "web-0"));
        assertEquals(Code.INVALID_ARGUMENT, several.code());
        assertTrue(several.getMessage().startsWith("web-0 matches 2 pods, give namespace/name or the sandbox id: "
                + "shop/web-0 (sandbox 3f2a9c0011, "), several.getMessage());
        var none = assertThrows(RuntimeStatusException.class, () -> PodLookup.find(state, "nginx"));
        assertEquals(Code.NOT_FOUND, none.code());
        assertTrue(none.getMessage().startsWith("no pod nginx under " + state.resolve("sandboxes") + "; pods there: "),
                none.getMessage());
        // A short prefix could match anything: it must be a name.
        assertEquals(Code.NOT_FOUND, assertThrows(RuntimeStatusException.class, () -> PodLookup.find(state, "3f"))
                .code());
    }
}
