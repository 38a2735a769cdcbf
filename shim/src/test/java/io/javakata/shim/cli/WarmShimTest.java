package io.javakata.shim.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The request a launcher hands a warm shim (its writer, the launcher's hand_over, is tested in LauncherTest). */
class WarmShimTest {

    private static byte[] request(String... fields) {
        return (String.join("\0", fields) + "\0").getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void aRequestGivesWhatContainerdGaveTheStart() {
        var r = WarmShim.Request.parse(request(WarmShim.REQUEST_FORMAT, "1764690000.123456", "/run/b/pod1", "00ff0a",
                "3", "-id", "pod 1", "start", "TTRPC_ADDRESS=/run/c.sock.ttrpc", "EMPTY=", "EQ=a=b"));

        assertEquals(Instant.ofEpochSecond(1764690000L, 123456000L), r.launched());
        assertEquals(Path.of("/run/b/pod1"), r.bundle());
        assertArrayEquals(new byte[] {0, (byte) 0xff, 0x0a}, r.stdin());
        assertEquals(List.of("-id", "pod 1", "start"), r.args());
        assertEquals(Map.of("TTRPC_ADDRESS", "/run/c.sock.ttrpc", "EMPTY", "", "EQ", "a=b"), r.env());
    }

    @Test
    void noOptionsNoEnvironmentAndADecimalComma() {
        var r = WarmShim.Request.parse(request(WarmShim.REQUEST_FORMAT, "10,5", "/b", "", "0"));
        assertEquals(Instant.ofEpochSecond(10, 500_000_000), r.launched());
        assertEquals(0, r.stdin().length);
        assertEquals(List.of(), r.args());
        assertEquals(Map.of(), r.env());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "javakata-warm-request-0|1|/b||0|is not javakata-warm-request-1",
            "javakata-warm-request-1|soon|/b||0|launch time is not seconds: soon",
            "javakata-warm-request-1|1|b||0|bundle is not an absolute path: b",
            "javakata-warm-request-1|1|/b|0g|0|stdin is not hex",
            "javakata-warm-request-1|1|/b||x|argument count is not a number: x",
            "javakata-warm-request-1|1|/b||2|fewer arguments than its count, 2",
            "javakata-warm-request-1|1|/b||-1|fewer arguments than its count, -1",
            "javakata-warm-request-1|1|/b||2147483647|fewer arguments than its count, 2147483647",
    })
    void aBadRequestIsRefusedNamingWhatIsWrong(String format, String launched, String bundle, String stdin,
                                               String argc, String message) {
        var e = assertThrows(IllegalArgumentException.class, () -> WarmShim.Request.parse(request(format,
                launched, bundle, stdin == null ? "" : stdin, argc)));
        assertTrue(e.getMessage().contains(message), e.getMessage());
    }

    @Test
    void aCutShortOrOversizedRequestOrABadEnvironmentEntryIsRefused() {
        byte[] whole = request(WarmShim.REQUEST_FORMAT, "1", "/b", "", "0");
        byte[] cut = java.util.Arrays.copyOf(whole, whole.length - 1);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> WarmShim.Request.parse(cut)).getMessage()
                .contains("does not end with a NUL"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> WarmShim.Request.parse(
                new byte[WarmShim.MAX_REQUEST_BYTES + 1])).getMessage().contains("longer than"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> WarmShim.Request.parse(request(
                WarmShim.REQUEST_FORMAT, "1", "/b", "", "0", "NOEQUALS"))).getMessage()
                .contains("not NAME=VALUE: NOEQUALS"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> WarmShim.Request.parse(new byte[0]))
                .getMessage().contains("is not javakata-warm-request-1"));
    }

    /**
     * A warm shim takes over only a start whose configuration (here from JAVAKATA_CONFIG in the start's environment)
     * asks for warm shims; one that cannot be loaded counts as asking, so that the start fails as start's own would.
     */
    @Test
    void aStartIsTakenOverOnlyWhenItsConfigurationAsksForWarmShims(@org.junit.jupiter.api.io.TempDir Path tmp)
            throws Exception {
        Path warm = java.nio.file.Files.writeString(tmp.resolve("warm.toml"), "[runtime]\nwarm_shims = 1\n");
        Path cold = java.nio.file.Files.writeString(tmp.resolve("cold.toml"), "[runtime]\nwarm_shims = 0\n");
        Path broken = java.nio.file.Files.writeString(tmp.resolve("broken.toml"), "[runtime]\nwarm_shims = \"x\"\n");
        assertTrue(WarmShim.wantsWarmShims(withConfig(warm)));
        assertEquals(false, WarmShim.wantsWarmShims(withConfig(cold)));
        assertTrue(WarmShim.wantsWarmShims(withConfig(broken)));
        assertTrue(WarmShim.wantsWarmShims(withConfig(tmp.resolve("missing.toml"))));
    }

    private static WarmShim.Request withConfig(Path config) {
        return WarmShim.Request.parse(request(WarmShim.REQUEST_FORMAT, "1", "/b", "", "1", "start",
                "JAVAKATA_CONFIG=" + config));
    }

    @Test
    void onlyWarmWithACountAndADirectoryIsTheWarmCommand() {
        assertTrue(WarmShim.isWarmCommand(new String[] {"warm", "1", "/run/javakata-warm/12"}));
        assertEquals(false, WarmShim.isWarmCommand(new String[] {"warm", "1"}));
        assertEquals(false, WarmShim.isWarmCommand(new String[] {"-id", "warm", "start"}));
    }
}
