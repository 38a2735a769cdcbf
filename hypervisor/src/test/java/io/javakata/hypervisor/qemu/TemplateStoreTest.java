package io.javakata.hypervisor.qemu;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
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

    private static VmTemplate built(TemplateStore store, String hashByte, Duration usedAgo) throws IOException {
        TemplateShape shape = new TemplateShape(Map.of("vcpus", "1"), hashByte.repeat(32));
        Path build = store.newBuildDir(shape);
        Files.writeString(build.resolve("state"), "s");
        Files.writeString(build.resolve("memory"), "m");
        VmTemplate template = store.commit(shape, build);
        Files.setLastModifiedTime(template.dir(), FileTime.from(Instant.now().minus(usedAgo)));
        return template;
    }

    private static String key(VmTemplate t) {
        return t.dir().getFileName().toString();
    }

    @Test
    void evictionRemovesTheLeastRecentlyUsedBeyondTheCountButNeverTheCurrentOne() throws IOException {
        TemplateStore store = TemplateStore.under(stateDir);
        VmTemplate oldest = built(store, "01", Duration.ofHours(3));
        VmTemplate old = built(store, "02", Duration.ofHours(2));
        VmTemplate recent = built(store, "03", Duration.ofHours(1));
        VmTemplate current = built(store, "04", Duration.ofHours(5)); // just built or used: kept whatever its mtime
        assertEquals(List.of(key(oldest), key(old)), store.evict(2, Duration.ofMinutes(10), key(current)));
        assertEquals(List.of(recent, current), store.list());
        assertEquals(List.of(), store.evict(2, Duration.ofMinutes(10), key(current)), "nothing more to remove");
        assertEquals(List.of(key(recent)), store.evict(1, Duration.ofMinutes(10), key(current)));
        assertEquals(List.of(current), store.list());
        try (var entries = Files.list(store.root())) {
            assertTrue(entries.noneMatch(p -> p.getFileName().toString().endsWith(".evicted")));
        }
    }

    @Test
    void evictionSparesATemplateInUseOrLockedAndMarkUsedMakesOneTheMostRecent() throws Exception {
        TemplateStore store = TemplateStore.under(stateDir);
        VmTemplate copying = built(store, "01", Duration.ofMinutes(2)); // a pod may still be copying its memory
        VmTemplate rebuilding = built(store, "02", Duration.ofHours(2));
        VmTemplate idle = built(store, "03", Duration.ofHours(3));
        VmTemplate current = built(store, "04", Duration.ZERO);
        store.markUsed(idle);
        TemplateShape rebuildingShape = new TemplateShape(Map.of("vcpus", "1"), "02".repeat(32));
        try (TemplateStore.Lock held = store.lock(rebuildingShape, Duration.ofSeconds(1))) {
            assertEquals(List.of(), store.evict(1, Duration.ofMinutes(10), key(current)),
                    "one used two minutes ago, one whose lock is held, one just marked used");
        }
        assertEquals(List.of(key(rebuilding)), store.evict(2, Duration.ofMinutes(10), key(current)));
        assertEquals(List.of(copying, idle, current), store.list());
        assertEquals(List.of(key(copying)), store.evict(2, Duration.ofMinutes(1), key(current)));
    }

    @Test
    void evictionDropsFailureMarkersOnceTheyNoLongerCount() throws IOException {
        TemplateStore store = TemplateStore.under(stateDir);
        assertEquals(List.of(), store.evict(2, Duration.ofMinutes(10), "none"), "no templates directory yet");
        store.markFailed(SHAPE, "agent did not answer");
        store.evict(2, Duration.ofMinutes(10), "none");
        assertTrue(store.failure(SHAPE).isPresent(), "a recent failure still keeps pods from building");
        Path marker = store.root().resolve(SHAPE.key() + ".failed");
        Files.setLastModifiedTime(marker, FileTime.from(Instant.now().minus(TemplateStore.RETRY_AFTER).minusSeconds(1)));
        store.evict(2, Duration.ofMinutes(10), "none");
        assertFalse(Files.exists(marker));
    }

    @Test
    void aBuildWhoseLockIsFreeIsAbandonedAndRemovedOneInProgressIsNot() throws IOException {
        TemplateStore store = TemplateStore.under(stateDir);
        assertEquals(List.of(), store.discardAbandonedBuilds(), "no templates directory yet");
        TemplateShape other = new TemplateShape(Map.of("vcpus", "2"), "cd".repeat(32));
        Files.writeString(store.newBuildDir(SHAPE).resolve("memory"), "left by a killed shim");
        try (TemplateStore.Lock building = store.lock(other, Duration.ofSeconds(1))) {
            Files.writeString(store.newBuildDir(other).resolve("memory"), "being built");
            assertEquals(List.of(SHAPE.key()), store.discardAbandonedBuilds());
            assertFalse(Files.exists(store.root().resolve(SHAPE.key() + ".build")));
            assertTrue(Files.exists(store.root().resolve(other.key() + ".build/memory")));
        }
    }
}
