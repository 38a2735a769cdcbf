package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.javakata.it.cri.CriStream;
import io.javakata.it.cri.v1.AttachRequest;
import io.javakata.it.cri.v1.ExecRequest;

/** Issue 3 item 3: ExecSync, streaming Exec with and without a TTY, Attach, terminal resize, stdin EOF. */
@Tag("containerd")
@Tag("qemu")
@Tag("cri")
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class StreamingIT {

    private static final Duration WAIT = Duration.ofSeconds(60);

    @RegisterExtension
    static final PrivateCri CRI = new PrivateCri();

    private static Pod pod;
    private static String sleeper;
    private static String echoer;

    @BeforeAll
    static void pod() throws Exception {
        pod = CRI.runPod("stream-it");
        sleeper = pod.run("sleeper", "sleep", "3600");
        // stdin open for Attach: echoes each line it reads.
        echoer = pod.run("echoer", b -> b.setStdin(true),
                "sh", "-c", "while read line; do echo \"echo:$line\"; done; echo stdin-closed");
    }

    @AfterAll
    static void teardown() {
        if (pod != null) {
            pod.close();
        }
    }

    private static CriStream exec(ExecRequest.Builder request) throws Exception {
        String url = CRI.cri().runtime().exec(request.setContainerId(sleeper).build()).getUrl();
        return CriStream.connect(url, WAIT);
    }

    @Test
    void execSyncReturnsBothStreamsAndTheExitCode() {
        var response = pod.execSync(sleeper, WAIT, "sh", "-c", "echo out; echo err >&2; exit 3");
        assertEquals("out\n", response.getStdout().toStringUtf8());
        assertEquals("err\n", response.getStderr().toStringUtf8());
        assertEquals(3, response.getExitCode());
    }

    @Test
    void execWithoutTtyKeepsStreamsApart() throws Exception {
        try (CriStream stream = exec(ExecRequest.newBuilder().addAllCmd(List.of("sh", "-c", "read l; echo \"got $l\"; echo e >&2; exit 4"))
                .setStdin(true).setStdout(true).setStderr(true))) {
            stream.sendStdin("hi\n");
            var exit = stream.awaitExit(WAIT);
            assertEquals(4, exit.exitCode(), exit::status);
            assertEquals("got hi\n", stream.stdout());
            assertEquals("e\n", stream.stderr());
        }
    }

    @Test
    void execSuccessReportsExitCodeZero() throws Exception {
        try (CriStream stream = exec(ExecRequest.newBuilder().addAllCmd(List.of("echo", "fine")).setStdout(true).setStderr(true))) {
            var exit = stream.awaitExit(WAIT);
            assertEquals(0, exit.exitCode(), exit::status);
            assertEquals("fine\n", stream.stdout());
        }
    }

    @Test
    void execWithTtyHasATerminalThatFollowsResizes() throws Exception {
        try (CriStream stream = exec(ExecRequest.newBuilder().addAllCmd(List.of("sh")).setTty(true).setStdin(true).setStdout(true))) {
            stream.resize(100, 30);
            // The shell computes the marker, so its echoed command line does not match.
            stream.sendStdin("[ -t 0 ] && echo is-a-tty-$((6 * 7))\n");
            stream.awaitStdout(out -> out.contains("is-a-tty-42"), WAIT);
            // A size reaches the terminal asynchronously (CRI sends ResizePty after Start, while stdin
            // already flows): ask until it shows.
            awaitSize(stream, "30 100");
            stream.resize(132, 43);
            awaitSize(stream, "43 132");
            stream.sendStdin("exit 5\n");
            var exit = stream.awaitExit(WAIT);
            assertEquals(5, exit.exitCode(), exit::status);
            assertTrue(stream.stdout().contains("\r\n"), "a terminal turns \\n into \\r\\n");
        }
    }

    /** Asks the shell for its terminal's size, again every half second, until it answers {@code rowsCols}. */
    private static void awaitSize(CriStream stream, String rowsCols) throws Exception {
        Await.until(() -> "size " + rowsCols + ": " + stream.stdout(), WAIT, Duration.ofMillis(500), () -> {
            if (stream.stdout().contains("\n" + rowsCols + "\r\n")) {
                return true;
            }
            stream.sendStdin("stty size\n");
            return false;
        });
    }

    @Test
    void attachReachesTheContainersStdioAndStdin() throws Exception {
        String url = CRI.cri().runtime().attach(AttachRequest.newBuilder().setContainerId(echoer)
                .setStdin(true).setStdout(true).setStderr(true).build()).getUrl();
        try (CriStream stream = CriStream.connect(url, WAIT)) {
            stream.sendStdin("ping\n");
            stream.awaitStdout(out -> out.contains("echo:ping"), WAIT);
            stream.sendStdin("pong\n");
            stream.awaitStdout(out -> out.contains("echo:pong"), WAIT);
        }
        // Its output went to the log too.
        pod.awaitLog("echoer", l -> l.endsWith(" stdout F echo:pong"), WAIT);
    }

    @Test
    void closingTheStreamClosesTheProcesssStdin() throws Exception {
        // WebSocket v4 has no half-close: the process sees EOF, and proves it by what it leaves behind.
        try (CriStream stream = exec(ExecRequest.newBuilder()
                .addAllCmd(List.of("sh", "-c", "cat > /tmp/eof-input; echo done > /tmp/eof-marker"))
                .setStdin(true).setStdout(true).setStderr(true))) {
            stream.sendStdin("abc\n");
            // Close only once cat has written what it got, so the stream's end is all that is left to see.
            Await.until("abc in /tmp/eof-input", WAIT, () -> "abc\n".equals(
                    pod.execSync(sleeper, WAIT, "cat", "/tmp/eof-input").getStdout().toStringUtf8()));
        }
        Await.until("the exec sees EOF on stdin and writes /tmp/eof-marker", WAIT,
                () -> pod.execSync(sleeper, WAIT, "cat", "/tmp/eof-marker").getExitCode() == 0);
        assertEquals("done\n", pod.execOk(sleeper, "cat", "/tmp/eof-marker"));
        assertEquals("abc\n", pod.execOk(sleeper, "cat", "/tmp/eof-input"));
    }
}
