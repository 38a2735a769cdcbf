package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 3 item 2: what a container writes lands in the CRI log file under the pod's log directory, in the CRI log
 * format, exactly as with runc, and nothing is lost when the container exits right after writing.
 */
@Tag("containerd")
@Tag("qemu")
@Tag("cri")
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class LogsIT {

    /** {@code <RFC3339Nano time> <stream> <P|F> <content>}. */
    private static final Pattern CRI_LINE = Pattern.compile(
            "(\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(?:\\.\\d{1,9})?(?:Z|[+-]\\d\\d:\\d\\d)) (stdout|stderr) ([PF]) (.*)");
    private static final Duration WAIT = Duration.ofSeconds(60);

    @RegisterExtension
    static final PrivateCri CRI = new PrivateCri();

    private static Pod vm;
    private static Pod runc;

    @BeforeAll
    static void pods() throws Exception {
        vm = CRI.runPod("logs-vm");
        runc = CRI.runPod(CRI.podConfig("logs-runc", UnaryOperator.identity()), "runc");
    }

    @AfterAll
    static void teardown() {
        Teardown.closeAll(vm, runc);
    }

    record Entry(Instant time, String stream, String tag, String content) {
        String withoutTime() {
            return stream + " " + tag + " " + content;
        }
    }

    private static List<Entry> parse(List<String> lines) {
        var entries = new ArrayList<Entry>();
        for (String line : lines) {
            Matcher m = CRI_LINE.matcher(line);
            assertTrue(m.matches(), () -> "not a CRI log line: " + line);
            entries.add(new Entry(Instant.parse(m.group(1)), m.group(2), m.group(3), m.group(4)));
        }
        return entries;
    }

    private static List<Entry> runToExit(Pod pod, String name, String script) throws Exception {
        String id = pod.run(name, "sh", "-c", script);
        var status = pod.awaitExit(id, WAIT);
        assertEquals(0, status.getExitCode(), () -> name + " exit code, status " + status);
        assertTrue(Files.exists(pod.logFile(name)), () -> "no log file " + pod.logFile(name));
        assertEquals(pod.logFile(name).toString(), status.getLogPath());
        return parse(Files.readAllLines(pod.logFile(name)));
    }

    private static List<String> stream(List<Entry> entries, String stream) {
        return entries.stream().filter(e -> e.stream().equals(stream)).map(Entry::withoutTime).toList();
    }

    @Test
    void stdoutAndStderrAreTaggedAsWithRunc() throws Exception {
        // A line longer than containerd's max_container_log_line_size (16 KiB) is split: P parts, then F.
        String script = "echo first; echo oops >&2; echo second; head -c 20000 /dev/zero | tr '\\0' x; echo; echo 'tab\there' >&2";
        List<Entry> fromVm = runToExit(vm, "tagged", script);
        List<Entry> fromRunc = runToExit(runc, "tagged", script);
        assertEquals(stream(fromRunc, "stdout"), stream(fromVm, "stdout"), "stdout log differs from runc's");
        assertEquals(stream(fromRunc, "stderr"), stream(fromVm, "stderr"), "stderr log differs from runc's");
        var stdout = stream(fromVm, "stdout");
        assertEquals("stdout F first", stdout.get(0));
        assertEquals("stdout F second", stdout.get(1));
        assertTrue(stdout.get(2).startsWith("stdout P xxxx"), stdout.get(2));
        assertEquals(List.of("stderr F oops", "stderr F tab\there"), stream(fromVm, "stderr"));
        Instant now = Instant.now();
        for (Entry e : fromVm) {
            assertTrue(Duration.between(e.time(), now).abs().compareTo(Duration.ofMinutes(5)) < 0, () -> "timestamp " + e.time());
        }
    }

    @Test
    void nothingIsLostWhenTheContainerExitsRightAfterWriting() throws Exception {
        List<Entry> entries = runToExit(vm, "burst",
                "i=1; while [ $i -le 3000 ]; do echo \"line $i\"; i=$((i+1)); done; echo last >&2");
        var stdout = stream(entries, "stdout");
        assertEquals(3000, stdout.size(), () -> "lines in the log: " + stdout.size() + ", the last " + stdout.getLast());
        for (int i = 0; i < 3000; i++) {
            assertEquals("stdout F line " + (i + 1), stdout.get(i));
        }
        assertEquals(List.of("stderr F last"), stream(entries, "stderr"));
    }

    @Test
    void aLongRunningContainerLogsAsItWrites() throws Exception {
        vm.run("ticker", "sh", "-c", "echo tick; sleep 3600");
        List<String> lines = vm.awaitLog("ticker", l -> l.endsWith(" stdout F tick"), WAIT);
        assertEquals(1, lines.size(), () -> String.join("\n", lines));
    }

}
