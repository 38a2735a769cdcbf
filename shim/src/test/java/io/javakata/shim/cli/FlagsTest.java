package io.javakata.shim.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(5)
class FlagsTest {

    private static Flags parse(String... args) throws Flags.UsageException {
        return Flags.parse(List.of(args));
    }

    @Test
    void parsesWhatContainerdPassesToStart() throws Exception {
        Flags f = parse("-namespace", "pfns", "-address", "/tmp/pfctd/c.sock", "-publish-binary", "/usr/bin/containerd",
                "-id", "probe1", "-debug", "start");
        assertEquals("pfns", f.namespace());
        assertEquals("/tmp/pfctd/c.sock", f.address());
        assertEquals("/usr/bin/containerd", f.publishBinary());
        assertEquals("probe1", f.id());
        assertTrue(f.debug());
        assertEquals(Flags.Action.START, f.action());
        assertEquals(Optional.empty(), f.bundle());
        assertEquals(List.of(), f.ignored());
    }

    @Test
    void acceptsDoubleDashAndEqualsForms() throws Exception {
        Flags f = parse("--namespace", "ns", "-address=/a.sock", "--id=t1", "-bundle=/b", "--debug=false", "delete");
        assertEquals("ns", f.namespace());
        assertEquals("/a.sock", f.address());
        assertEquals("t1", f.id());
        assertEquals(Optional.of(Path.of("/b")), f.bundle());
        assertFalse(f.debug());
        assertEquals(Flags.Action.DELETE, f.action());
    }

    @Test
    void serveIsNoLongerAnAction() {
        // start's JVM stays as the pod's shim now: the daemon command line an earlier start spawned is refused by name
        var e = assertThrows(Flags.UsageException.class, () -> parse("-namespace", "ns", "-address", "/a", "-id", "t",
                "-socket", "/run/javakata/s/x", "serve"));
        assertEquals("unknown action \"serve\": want start or delete", e.getMessage());
    }

    @Test
    void keepsUnknownFlagsWithOrWithoutValues() throws Exception {
        Flags f = parse("-namespace", "ns", "-future-flag", "value", "-future-bool", "-other=x", "-address", "/a",
                "-id", "t", "-last-bool", "start");
        assertEquals(List.of("-future-flag value", "-future-bool", "-other=x", "-last-bool"), f.ignored());
        assertEquals(Flags.Action.START, f.action());
        assertEquals("/a", f.address());
    }

    @Test
    void versionNeedsNothingElse() throws Exception {
        assertEquals(Flags.Action.VERSION, parse("-v").action());
        assertEquals(Flags.Action.VERSION, parse("--version").action());
    }

    static Stream<Arguments> badCommandLines() {
        return Stream.of(
                Arguments.of(List.of("-namespace", "ns", "-address", "/a", "-id", "t"),
                        "missing action: want start or delete after the flags"),
                Arguments.of(List.of("-namespace", "ns", "-address", "/a", "-id", "t", "stop"),
                        "unknown action \"stop\": want start or delete"),
                Arguments.of(List.of("-address", "/a", "-id", "t", "start"), "missing required flag -namespace"),
                Arguments.of(List.of("-namespace", "ns", "-address", "/a", "start"), "missing required flag -id"),
                Arguments.of(List.of("-namespace", "ns", "-id", "t", "delete"), "missing required flag -address"),
                Arguments.of(List.of("-namespace"), "flag needs an argument: -namespace"),
                Arguments.of(List.of("-debug=maybe", "start"), "invalid boolean value \"maybe\" for flag -debug=maybe"),
                Arguments.of(List.of("-namespace", "ns", "-address", "/a", "-id", "t", "start", "extra"),
                        "unexpected arguments after action start: extra"),
                Arguments.of(List.of("-=x", "start"), "bad flag syntax: -=x"));
    }

    @ParameterizedTest
    @MethodSource("badCommandLines")
    void refusesBadCommandLinesWithOneLine(List<String> args, String message) {
        var e = assertThrows(Flags.UsageException.class, () -> Flags.parse(args));
        assertEquals(message, e.getMessage());
    }
}
