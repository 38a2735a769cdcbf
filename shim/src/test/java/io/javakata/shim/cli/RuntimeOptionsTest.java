package io.javakata.shim.cli;

import com.google.protobuf.Any;
import com.google.protobuf.Empty;
import io.containerd.runtimeoptions.v1.Options;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

@Timeout(5)
class RuntimeOptionsTest {

    private static byte[] any(String typeUrl, com.google.protobuf.Message value) {
        return Any.newBuilder().setTypeUrl(typeUrl).setValue(value.toByteString()).build().toByteArray();
    }

    @Test
    void emptyStdinMeansNoOptions() {
        assertEquals(Optional.empty(), RuntimeOptions.configPath(new byte[0]));
    }

    @Test
    void readsConfigPathFromCrisOptions() {
        var options = Options.newBuilder().setConfigPath("/etc/javakata/tcg.toml").build();
        assertEquals(Optional.of("/etc/javakata/tcg.toml"), RuntimeOptions.configPath(any("runtimeoptions.v1.Options",
                options)));
        assertEquals(Optional.of("/etc/javakata/tcg.toml"), RuntimeOptions.configPath(
                any("type.googleapis.com/runtimeoptions.v1.Options", options)));
        assertEquals(Optional.empty(), RuntimeOptions.configPath(any("runtimeoptions.v1.Options",
                Options.getDefaultInstance())));
    }

    @Test
    void ignoresOptionsOfAnotherType() {
        assertEquals(Optional.empty(), RuntimeOptions.configPath(any("containerd.runc.v1.Options",
                Empty.getDefaultInstance())));
    }

    @Test
    void refusesGarbage() {
        var e = assertThrows(RuntimeStatusException.class,
                () -> RuntimeOptions.configPath(new byte[] {(byte) 0xff, (byte) 0xff, 0x01}));
        assertEquals(Code.INVALID_ARGUMENT, e.code());
    }
}
