package io.javakata.guest;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/** Finds the processes a test started by a marker in their command line, to check they are gone. */
public final class TestProcesses {

    private TestProcesses() {
    }

    /** A {@code sleep} argument of about a minute that no other process on the machine has. */
    public static String sleepMarker() {
        return "60." + ThreadLocalRandom.current().nextInt(100_000, 1_000_000);
    }

    /** Pids of the processes running exactly {@code sleep marker}. */
    public static List<Long> sleepers(String marker) {
        try (var procs = Files.list(Path.of("/proc"))) {
            return procs.filter(p -> p.getFileName().toString().matches("\\d+")).filter(p -> {
                try {
                    return Files.readString(p.resolve("cmdline"), StandardCharsets.ISO_8859_1).equals("sleep\0" + marker + "\0");
                } catch (IOException e) {
                    return false; // gone
                }
            }).map(p -> Long.parseLong(p.getFileName().toString())).toList();
        } catch (IOException e) {
            throw new IllegalStateException("listing /proc", e);
        }
    }

    /** Kills what is left of {@code sleep marker}. */
    public static void killSleepers(String marker) {
        sleepers(marker).forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
    }
}
