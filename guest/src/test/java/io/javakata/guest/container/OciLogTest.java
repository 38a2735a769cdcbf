package io.javakata.guest.container;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(5)
class OciLogTest {

    @Test
    void errorMessagesAreExtractedAndUnescaped() {
        String log = """
                {"level":"info","msg":"starting","time":"2026-01-01T00:00:00Z"}
                {"level":"error","msg":"runc create failed: unable to start container process: exec: \\"nosuch\\": executable file not found in $PATH","time":"2026-01-01T00:00:01Z"}
                {"level":"fatal","msg":"line\\none \\u0041","time":"x"}
                """;
        assertEquals(List.of(
                "runc create failed: unable to start container process: exec: \"nosuch\": executable file not found in $PATH",
                "line\none A"), OciLog.errors(log));
    }

    @Test
    void missingOrUnterminatedFieldsAreAbsent() {
        assertNull(OciLog.field("{\"level\":\"error\"}", "msg"));
        assertNull(OciLog.field("{\"msg\":\"unterminated", "msg"));
        assertEquals(List.of(), OciLog.errors("not json at all\n"));
    }
}
