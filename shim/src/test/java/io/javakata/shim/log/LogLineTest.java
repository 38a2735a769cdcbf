package io.javakata.shim.log;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(5)
class LogLineTest {

    private static final Instant T = Instant.parse("2025-03-01T10:20:30.123456789Z");
    private final ShimLogging.Settings saved = ShimLogging.settings();

    @AfterEach
    void restore() {
        ShimLogging.configure(saved);
    }

    @Test
    void formatsOneKeyValueLine() {
        assertEquals("time=2025-03-01T10:20:30.123456789Z level=info msg=\"sandbox started\" namespace=k8s.io "
                        + "id=pod1 logger=Sandbox",
                LogLine.format(T, Level.INFO, "sandbox started", "k8s.io", "pod1", "Sandbox", null));
    }

    @Test
    void escapesQuotesNewlinesAndEmptyValues() {
        assertEquals("time=2025-03-01T10:20:30.123456789Z level=warning msg=\"a \\\"b\\\"\\nc=d\" namespace=\"\" "
                        + "id=\"\" logger=X",
                LogLine.format(T, Level.WARNING, "a \"b\"\nc=d", "", "", "X", null));
    }

    @Test
    void putsAThrowableOnTheSameLine() {
        String line = LogLine.format(T, Level.ERROR, "boom", "ns", "t", "X", new IllegalStateException("bad state"));
        assertTrue(line.startsWith("time=2025-03-01T10:20:30.123456789Z level=error msg=boom namespace=ns id=t "
                + "logger=X error=\"bad state\" stack=\"java.lang.IllegalStateException: bad state\\n\\tat "), line);
        assertEquals(-1, line.indexOf('\n'));
    }

    @Test
    void loggerFinderWritesThroughTheSettingsAndHonoursDebug() {
        var out = new ByteArrayOutputStream();
        var sink = new PrintStream(out, true, StandardCharsets.UTF_8);
        ShimLogging.configure(new ShimLogging.Settings("ns1", "task1", false, sink, Clock.fixed(T, ZoneOffset.UTC)));
        System.Logger log = new ShimLoggerFinder().getLogger("io.javakata.shim.cli.Main", getClass().getModule());
        log.log(Level.DEBUG, "hidden");
        log.log(Level.INFO, "listening on {0}", "/run/x.sock");
        ShimLogging.configure("ns1", "task1", true);
        log.log(Level.DEBUG, "now shown");
        assertEquals("""
                time=2025-03-01T10:20:30.123456789Z level=info msg="listening on /run/x.sock" namespace=ns1 id=task1 \
                logger=Main
                time=2025-03-01T10:20:30.123456789Z level=debug msg="now shown" namespace=ns1 id=task1 logger=Main
                """, out.toString(StandardCharsets.UTF_8));
    }

    @Test
    void theServiceFileInstallsTheFinder() {
        assertInstanceOf(ShimLoggerFinder.class, System.LoggerFinder.getLoggerFinder());
    }
}
