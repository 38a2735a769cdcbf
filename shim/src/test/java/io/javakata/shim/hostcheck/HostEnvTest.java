package io.javakata.shim.hostcheck;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javakata.hypervisor.Accelerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(30)
class HostEnvTest {

    @TempDir
    Path root;

    @Test
    void printsConfigurationVersionsAndTheGuestManifest() throws Exception {
        FakeHost host = new FakeHost(root);
        ObjectNode env = HostEnv.of(host.setup(), new HostView(root),
                (qemu, machine) -> new Accelerator.Choice(Accelerator.TCG, "no /dev/kvm"), FakeHost.shim());
        assertEquals("9.9.9", env.at("/shim/version").asText());
        assertEquals("io.containerd.javakata.v2", env.at("/shim/runtime_type").asText());
        assertEquals(host.config.toString(), env.at("/configuration_file/path").asText());
        assertEquals("--config", env.at("/configuration_file/source").asText());
        assertEquals(host.bin.resolve("virtiofsd").toString(), env.at("/configuration/virtiofsd/path").asText());
        assertEquals(512, env.at("/configuration/hypervisor/memory_mib").asInt());
        assertEquals("javakata", env.at("/containerd/javakata_handlers/0").asText());
        assertEquals("6.18.44-fake", env.at("/host/kernel").asText());
        assertEquals("QEMU emulator version 7.2.22 (fake)", env.at("/host/qemu").asText());
        assertEquals("virtiofsd version 7.2.22 (fake)", env.at("/host/virtiofsd").asText());
        assertEquals("tcg", env.at("/host/accelerator").asText());
        assertEquals("no /dev/kvm", env.at("/host/accelerator_reason").asText());
        assertEquals("9.9.9", env.at("/guest/version").asText());
        assertEquals("6.1.0-56-cloud-amd64", env.at("/guest/kernel_release").asText());
    }

    @Test
    void whatCannotBeFoundIsAnErrorInItsPlace() throws Exception {
        FakeHost host = new FakeHost(root);
        Files.delete(host.bin.resolve("qemu-system-x86_64"));
        Files.delete(host.share.resolve(GuestManifest.FILE_NAME));
        ObjectNode env = HostEnv.of(host.setup(), new HostView(root),
                (qemu, machine) -> new Accelerator.Choice(Accelerator.TCG, "no QEMU"), FakeHost.shim());
        assertTrue(env.at("/host/qemu_error").asText().endsWith("qemu-system-x86_64: does not exist"), env.toString());
        assertTrue(env.at("/guest/error").asText().endsWith("guest-manifest.json: does not exist"), env.toString());
    }
}
