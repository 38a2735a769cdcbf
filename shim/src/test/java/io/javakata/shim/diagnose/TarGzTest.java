package io.javakata.shim.diagnose;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

@Timeout(30)
class TarGzTest {

    @TempDir
    Path dir;

    @Test
    void filesReadBackWithNamesContentsAndPadding() throws Exception {
        Path archive = dir.resolve("a.tar.gz");
        String longName = "d/" + "x".repeat(120) + "/file.txt";
        try (TarGz tar = new TarGz(Files.newOutputStream(archive), Instant.parse("2026-11-29T01:00:00Z"))) {
            tar.add("d/empty", new byte[0]);
            tar.add("d/one", "1".getBytes(StandardCharsets.UTF_8));
            tar.add("d/block", "b".repeat(512).getBytes(StandardCharsets.UTF_8));
            tar.add(longName, "long".getBytes(StandardCharsets.UTF_8));
        }
        assertEquals(Map.of("d/empty", "", "d/one", "1", "d/block", "b".repeat(512), longName, "long"),
                TarReader.read(archive));
    }

    @Test
    void theSystemTarListsIt() throws Exception {
        Path archive = dir.resolve("b.tar.gz");
        try (TarGz tar = new TarGz(Files.newOutputStream(archive), Instant.now())) {
            tar.add("top/summary.txt", "hello\n".getBytes(StandardCharsets.UTF_8));
        }
        Process tar = new ProcessBuilder("tar", "-tvzf", archive.toString()).redirectErrorStream(true).start();
        String listing = new String(tar.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, tar.waitFor(), listing);
        assertEquals(1, listing.lines().count(), listing);
        assertEquals(List.of("-rw-r--r--", "root/root", "6"), List.of(listing.split("\\s+")).subList(0, 3));
    }

    @Test
    void aNameThatCannotBeSplitIsRefused() throws Exception {
        try (TarGz tar = new TarGz(Files.newOutputStream(dir.resolve("c.tar.gz")), Instant.now())) {
            assertThrows(IllegalArgumentException.class, () -> tar.add("y".repeat(101), new byte[0]));
        }
    }
}
