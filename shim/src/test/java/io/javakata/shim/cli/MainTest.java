package io.javakata.shim.cli;

import io.javakata.ttrpc.Errors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;

import static org.junit.jupiter.api.Assertions.assertEquals;

@Timeout(5)
class MainTest {

    @Test
    void userMessagesAreOneLineAndNameTheFile() {
        assertEquals("/proc/self/nope: no such file or directory", Main.message(new NoSuchFileException(
                "/proc/self/nope")));
        assertEquals("/run/x: permission denied", Main.message(new AccessDeniedException("/run/x")));
        assertEquals("/run/y: Read-only file system", Main.message(new FileSystemException("/run/y", null,
                "Read-only file system")));
        assertEquals("vcpus = 0 in /etc/c.toml: must be an integer", Main.message(
                Errors.invalidArgument("vcpus = 0 in %s: must be an integer", "/etc/c.toml")));
        assertEquals("first second", Main.message(new IOException("first\nsecond")));
        assertEquals("IllegalStateException", Main.message(new IllegalStateException()));
    }
}
