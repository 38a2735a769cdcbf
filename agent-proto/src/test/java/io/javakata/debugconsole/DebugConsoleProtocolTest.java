package io.javakata.debugconsole;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.OptionalInt;

import static org.junit.jupiter.api.Assertions.assertEquals;

class DebugConsoleProtocolTest {

    @Test
    void theEndLineIsFoundWhereverItIsAndOnlyWhole() {
        String line = new String(DebugConsoleProtocol.endLine(5), StandardCharsets.US_ASCII);
        assertEquals("\r\n" + DebugConsoleProtocol.END_PREFIX + "5]\r\n", line);
        assertEquals(OptionalInt.of(5), DebugConsoleProtocol.endStatus("output\r\n# exit 5" + line));
        assertEquals(OptionalInt.of(-1), DebugConsoleProtocol.endStatus(
                new String(DebugConsoleProtocol.endLine(-1), StandardCharsets.US_ASCII)));
        assertEquals(OptionalInt.empty(), DebugConsoleProtocol.endStatus(line.substring(0, line.length() - 4)));
        assertEquals(OptionalInt.empty(), DebugConsoleProtocol.endStatus("echo the shell exited with status 3]"));
    }
}
