package io.javakata.shim.sandbox;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * sandbox.json: what {@link SandboxCleaner} needs to clean up after a shim that died. Written once
 * the VM answered, replaced atomically.
 *
 * @param sandboxId          the sandbox id
 * @param namespace          the containerd namespace
 * @param shimPid            the shim that owns the VM
 * @param shimStartTime      its start time (/proc/[pid]/stat field 22), against pid reuse
 * @param vmmPid             QEMU's pid
 * @param vmmStartTime       QEMU's start time
 * @param virtiofsdPid       virtiofsd's pid, 0 if unknown (the cleaner also finds it by its socket)
 * @param dir                the sandbox's state directory
 */
public record SandboxState(String sandboxId, String namespace, long shimPid, long shimStartTime, long vmmPid,
                           long vmmStartTime, long virtiofsdPid, String dir) {

    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    public void write(Path file) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        JSON.writerWithDefaultPrettyPrinter().writeValue(tmp.toFile(), this);
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    public static SandboxState read(Path file) throws IOException {
        return JSON.readValue(file.toFile(), SandboxState.class);
    }
}
