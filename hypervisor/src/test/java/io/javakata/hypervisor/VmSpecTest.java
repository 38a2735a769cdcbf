package io.javakata.hypervisor;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

@Timeout(10)
class VmSpecTest {

    private static VmSpec spec(String id, int vcpus, int memory, String machine, Duration bootTimeout,
                               String params) {
        return new VmSpec(id, Path.of("/run/x"), Path.of("/usr/bin/qemu-system-x86_64"), Path.of("/k"),
                Path.of("/i"), params, vcpus, memory, Accelerator.AUTO, machine, null, VmSpec.AgentChannel.SERIAL,
                bootTimeout);
    }

    private static String failure(Runnable construct) {
        return assertThrows(IllegalArgumentException.class, construct::run).getMessage();
    }

    @Test
    void messagesNameTheFieldTheValueAndTheRule() {
        Duration t = Duration.ofSeconds(5);
        assertEquals("vcpus=0: must be between 1 and 254", failure(() -> spec("a", 0, 512, "q35", t, "")));
        assertEquals("vcpus=255: must be between 1 and 254", failure(() -> spec("a", 255, 512, "q35", t, "")));
        assertEquals("memoryMiB=64: must be between 128 and 1048576",
                failure(() -> spec("a", 1, 64, "q35", t, "")));
        assertEquals("machine=pc: must be q35 or microvm", failure(() -> spec("a", 1, 512, "pc", t, "")));
        assertEquals("id=: must not be empty", failure(() -> spec("", 1, 512, "q35", t, "")));
        assertEquals("bootTimeout=PT0S: must be positive",
                failure(() -> spec("a", 1, 512, "q35", Duration.ZERO, "")));
    }

    @Test
    void sharedFsMessages() {
        Path p = Path.of("/x");
        assertEquals("sharedFs.tag=a b: must be 1 to 36 letters, digits, '-' or '_'",
                failure(() -> new VmSpec.SharedFs("a b", p, p, "auto")));
        assertEquals("sharedFs.cache=sometimes: must be auto, always or none",
                failure(() -> new VmSpec.SharedFs("t", p, p, "sometimes")));
    }

    @Test
    void kernelParamsAreStrippedAndNullBecomesEmpty() {
        assertEquals("a=b", spec("a", 1, 512, "q35", Duration.ofSeconds(1), "  a=b ").kernelParams());
        assertEquals("", spec("a", 1, 512, "q35", Duration.ofSeconds(1), null).kernelParams());
    }
}
