package io.javakata.hypervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SchedStatTest {

    @TempDir
    Path tmp;

    private void thread(String tid, String schedstat) throws IOException {
        Files.createDirectories(tmp.resolve(tid));
        Files.writeString(tmp.resolve(tid).resolve("schedstat"), schedstat);
    }

    @Test
    void sumsTheRunAndWaitTimesOfEveryThread() throws IOException {
        thread("100", "1500000000 250000000 42\n");
        thread("101", "500000000 750000000 7\n");
        thread("102", "garbage\n"); // not the documented format: left out
        Files.createDirectories(tmp.resolve("103")); // ended since the listing: no file
        assertEquals(Optional.of(new SchedStat(Duration.ofSeconds(2), Duration.ofSeconds(1))), SchedStat.of(tmp));
    }

    @Test
    void aProcessThatIsGoneHasNone() {
        assertEquals(Optional.empty(), SchedStat.of(tmp.resolve("nope")));
        assertEquals(Optional.empty(), SchedStat.of(tmp));
    }

    @Test
    void thisJvmHasRunAndTheDifferenceOfTwoSamplesIsWhatWasAdded() {
        SchedStat first = SchedStat.ofProcess(ProcessHandle.current().pid()).orElseThrow();
        assertTrue(first.onCpu().isPositive(), first.toString());
        SchedStat later = new SchedStat(first.onCpu().plusMillis(30), first.waiting().plusMillis(70));
        assertEquals(new SchedStat(Duration.ofMillis(30), Duration.ofMillis(70)), later.since(first));
    }
}
