package io.javakata.guest.log;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(5)
class KeyValueLoggerFinderTest {

    @Test
    void writesOneKeyValueLinePerEventAboveTheThreshold() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        System.Logger log = new KeyValueLoggerFinder(System.Logger.Level.INFO, out)
                .getLogger("io.javakata.guest.reaper.Reaper", getClass().getModule());
        log.log(System.Logger.Level.DEBUG, "msg=\"hidden\"");
        log.log(System.Logger.Level.INFO, "msg=\"process exited\" pid={0} status={1}", 12345, 3);
        log.log(System.Logger.Level.WARNING, "plain text");
        String[] lines = bytes.toString(StandardCharsets.UTF_8).split("\n");
        assertEquals(2, lines.length, String.join("|", lines));
        assertEquals("level=INFO logger=Reaper msg=\"process exited\" pid=12345 status=3",
                lines[0].substring(lines[0].indexOf(' ') + 1), "numbers are not grouped (1,234)");
        assertEquals("level=WARNING logger=Reaper msg=\"plain text\"", lines[1].substring(lines[1].indexOf(' ') + 1));
    }
}
