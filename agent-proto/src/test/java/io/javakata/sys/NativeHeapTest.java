package io.javakata.sys;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(20)
class NativeHeapTest {

    private static final int BLOCKS = 1024;
    private static final long BLOCK_BYTES = 64 * 1024;
    private static final long PAGE = 4096;

    @Test
    void freePagesBetweenLiveBlocksGoBackToTheKernel() throws IOException {
        // 1024 blocks of 64 KiB (under glibc's 128 KiB mmap threshold, so inside an arena), written by allocate's
        // zeroing; freeing every other one leaves 32 MiB of whole free pages between live blocks, which free()
        // keeps resident and only malloc_trim releases.
        List<Arena> blocks = new ArrayList<>();
        try {
            for (int i = 0; i < BLOCKS; i++) {
                Arena arena = Arena.ofConfined();
                blocks.add(arena);
                arena.allocate(BLOCK_BYTES);
            }
            for (int i = 0; i < BLOCKS; i += 2) {
                blocks.get(i).close();
            }
            long before = residentBytes();
            NativeHeap.trim();
            long released = before - residentBytes();
            assertTrue(released >= 16L << 20, "resident memory fell by " + released + " bytes, not the 16 MiB or "
                    + "more of the 32 MiB freed between live blocks");
        } finally {
            for (int i = 1; i < BLOCKS; i += 2) {
                blocks.get(i).close();
            }
        }
    }

    /** The process's resident set: the second field of /proc/self/statm, in pages (proc(5)). */
    private static long residentBytes() throws IOException {
        return Long.parseLong(Files.readString(Path.of("/proc/self/statm")).split(" ")[1]) * PAGE;
    }
}
