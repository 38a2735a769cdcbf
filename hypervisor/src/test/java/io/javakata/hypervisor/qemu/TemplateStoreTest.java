package io.javakata.hypervisor.qemu;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(20)
class TemplateStoreTest {

    private static final TemplateShape SHAPE = new TemplateShape(Map.of("vcpus", "1"), "ab".repeat(32));

    @TempDir
    Path stateDir;

    @Test
    void aBuildBecomesVisibleWholeAndLeavesOnlyItsStateAndMemory() throws IOException {
        TemplateStore store = TemplateStore.under(stateDir);
        assertTrue(store.find(SHAPE).isEmpty());
        Path build = store.newBuildDir(SHAPE);
        Files.writeString(build.resolve("state"), "state");
        Files.writeString(build.resolve("memory"), "memory");
        Files.writeString(build.resolve("qemu.log"), "log");
        assertTrue(store.find(SHAPE).isEmpty(), "a build in progress is not a template");
        VmTemplate template = store.commit(SHAPE, build);
        assertEquals(template, store.find(SHAPE).orElseThrow());
        assertFalse(Files.exists(build));
        assertFalse(Files.exists(template.dir().resolve("qemu.log")));
        assertTrue(Files.readString(template.shapeFile()).contains("hash=" + SHAPE.hash()));
        assertEquals(1, store.list().size());
        store.removeAll();
        assertFalse(Files.exists(store.root()));
        assertTrue(store.list().isEmpty());
    }

    @Test
    void aFailedBuildIsRememberedUntilRemoved() throws IOException {
        TemplateStore store = TemplateStore.under(stateDir);
        store.markFailed(SHAPE, "agent did not answer");
        assertEquals("agent did not answer", store.failure(SHAPE).orElseThrow());
        Files.setLastModifiedTime(store.root().resolve(SHAPE.key() + ".failed"), java.nio.file.attribute.FileTime.from(
                java.time.Instant.now().minus(TemplateStore.RETRY_AFTER).minusSeconds(1)));
        assertTrue(store.failure(SHAPE).isEmpty(), "an old failure lets the next pod try again");
        store.markFailed(SHAPE, "agent did not answer");
        store.removeAll();
        assertTrue(store.failure(SHAPE).isEmpty());
    }

    @Test
    void oneBuilderAtATimeTheOthersWaitThenFindTheTemplate() throws Exception {
        TemplateStore store = TemplateStore.under(stateDir);
        CompletableFuture<Boolean> second = new CompletableFuture<>();
        try (TemplateStore.Lock first = store.lock(SHAPE, Duration.ofSeconds(1))) {
            Thread.ofVirtual().start(() -> {
                try (TemplateStore.Lock lock = store.lock(SHAPE, Duration.ofSeconds(10))) {
                    second.complete(store.find(SHAPE).isPresent());
                } catch (IOException e) {
                    second.completeExceptionally(e);
                }
            });
            IOException timedOut = assertThrows(IOException.class, () -> store.lock(SHAPE, Duration.ofMillis(100)));
            assertTrue(timedOut.getMessage().contains("is locked"), timedOut.getMessage());
            assertFalse(second.isDone(), "the second builder waits while the first holds the lock");
            Path build = store.newBuildDir(SHAPE);
            Files.writeString(build.resolve("state"), "s");
            Files.writeString(build.resolve("memory"), "m");
            store.commit(SHAPE, build);
        }
        assertTrue(second.get(10, TimeUnit.SECONDS), "after the lock, the waiting builder finds the template");
    }
}
