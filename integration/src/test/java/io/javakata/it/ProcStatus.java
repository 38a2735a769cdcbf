package io.javakata.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/** The fields of /proc/PID/status (proc(5)) that say how a process is confined. */
record ProcStatus(List<Long> uids, String groups, long capEff, long capPrm, long capBnd, int seccomp, int noNewPrivs) {

    static ProcStatus of(long pid) throws IOException {
        List<String> lines = Files.readAllLines(Path.of("/proc/" + pid + "/status"));
        return new ProcStatus(Arrays.stream(field(lines, "Uid").split("\\s+")).map(Long::parseLong).toList(),
                field(lines, "Groups"), hex(lines, "CapEff"), hex(lines, "CapPrm"), hex(lines, "CapBnd"),
                Integer.parseInt(field(lines, "Seccomp")), Integer.parseInt(field(lines, "NoNewPrivs")));
    }

    private static long hex(List<String> lines, String name) {
        return Long.parseUnsignedLong(field(lines, name), 16);
    }

    private static String field(List<String> lines, String name) {
        return lines.stream().filter(l -> l.startsWith(name + ":")).findFirst()
                .map(l -> l.substring(name.length() + 1).strip())
                .orElseThrow(() -> new AssertionError("no " + name + " in /proc/PID/status"));
    }
}
