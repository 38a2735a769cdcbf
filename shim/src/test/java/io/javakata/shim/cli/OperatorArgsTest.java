package io.javakata.shim.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(5)
class OperatorArgsTest {

    @Test
    void containerdsCallsNeverLookLikeAnOperatorCommand() throws Exception {
        // containerd puts its flags first, whatever the values: a namespace or id named "check" stays a flag value.
        List<String> start = List.of("-namespace", "check", "-address", "/run/c.sock", "-publish-binary",
                "/usr/bin/containerd", "-id", "env", "start");
        assertFalse(OperatorArgs.isOperatorCommand(start));
        Flags flags = Flags.parse(start);
        assertEquals(Flags.Action.START, flags.action());
        assertEquals("check", flags.namespace());
        assertEquals("env", flags.id());
        assertFalse(OperatorArgs.isOperatorCommand(List.of("-namespace", "ns", "-address", "/a", "-id", "t",
                "-bundle", "/b", "delete")));
        assertFalse(OperatorArgs.isOperatorCommand(List.of()));
        assertFalse(OperatorArgs.isOperatorCommand(List.of("--version")));
    }

    @Test
    void parsesOptionsInEitherForm() throws Exception {
        assertTrue(OperatorArgs.isOperatorCommand(List.of("check")));
        OperatorArgs args = OperatorArgs.parse(List.of("check", "--config", "/etc/j.toml",
                "--containerd-config=/tmp/c.toml"));
        assertEquals("check", args.command());
        assertEquals(Map.of("config", "/etc/j.toml", "containerd-config", "/tmp/c.toml"), args.options());
        assertEquals(Optional.of(Path.of("/tmp/c.toml")), args.path("containerd-config"));
        assertEquals(Optional.empty(), OperatorArgs.parse(List.of("env")).path("config"));
    }

    static Stream<Arguments> badCommandLines() {
        return Stream.of(
                Arguments.of(List.of("check", "--state"), "check: unknown option --state (known: --config, "
                        + "--containerd-config)"),
                Arguments.of(List.of("env", "--config"), "env: option --config needs a value"),
                Arguments.of(List.of("check", "extra"), "check takes no operand, got: extra"),
                Arguments.of(List.of("diagnose", "--output", "/tmp/x.tar.gz"),
                        "diagnose needs exactly 1 operand (the pod), got 0"),
                Arguments.of(List.of("diagnose", "a", "b"), "diagnose needs exactly 1 operand (the pod), got 2"),
                Arguments.of(List.of("console"), "console needs exactly 1 operand (the pod), got 0"),
                Arguments.of(List.of("console", "web-0", "--output", "x"), "console: unknown option --output (known: "
                        + "--config, --containerd-config, --state-dir)"));
    }

    @ParameterizedTest
    @MethodSource("badCommandLines")
    void refusesBadCommandLinesWithOneLine(List<String> args, String message) {
        var e = assertThrows(Flags.UsageException.class, () -> OperatorArgs.parse(args));
        assertEquals(message, e.getMessage());
    }

    @Test
    void anEmptyPathIsRefused() throws Exception {
        var e = assertThrows(Flags.UsageException.class,
                () -> OperatorArgs.parse(List.of("check", "--config=")).path("config"));
        assertEquals("check: --config is empty", e.getMessage());
    }
}
