package io.javakata.hypervisor;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

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
    void hostLimitsAreValidatedAndKeptByWithNetwork() {
        Duration t = Duration.ofSeconds(5);
        VmSpec spec = spec("a", 1, 512, "q35", t, "");
        assertEquals("", spec.runAs());
        assertEquals(VmSpec.DEFAULT_CONSOLE_LOG_BYTES, spec.consoleLogMaxBytes());
        VmSpec limited = spec.withHostLimits("javakata-qemu", 65536).withNetwork(Path.of("/n"), List.of());
        assertEquals("javakata-qemu", limited.runAs());
        assertEquals(65536, limited.consoleLogMaxBytes());
        assertEquals("runAs=qemu,x: must be empty or a user name (lower-case letters, digits, '_' or '-', at most 32)",
                failure(() -> spec.withHostLimits("qemu,x", 65536)));
        assertEquals("consoleLogMaxBytes=1024: must be between 16384 and 1073741824",
                failure(() -> spec.withHostLimits("", 1024)));
        assertEquals("", spec.withHostLimits(null, 65536).runAs());
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

    @Test
    void nicMessages() {
        assertEquals("nic.mac=01:00:5e:00:00:01: must be a unicast MAC address such as 02:42:ac:11:00:02",
                failure(() -> new VmSpec.Nic("net0", "tap0", "01:00:5e:00:00:01")));
        assertEquals("nic.mac=02:42:ac:11:00: must be a unicast MAC address such as 02:42:ac:11:00:02",
                failure(() -> new VmSpec.Nic("net0", "tap0", "02:42:ac:11:00")));
        assertEquals("nic.tap=tap-name-too-long0: must be 1 to 15 letters, digits, '.', '-' or '_' (a Linux "
                + "interface name)", failure(() -> new VmSpec.Nic("net0", "tap-name-too-long0", "02:00:00:00:00:01")));
        assertEquals("nic.id=0net: must be a letter then up to 30 letters, digits, '-' or '_'",
                failure(() -> new VmSpec.Nic("0net", "tap0", "02:00:00:00:00:01")));
    }

    @Test
    void networkFields() {
        VmSpec base = spec("a", 1, 512, "q35", Duration.ofSeconds(1), "");
        assertEquals(null, base.netns());
        assertEquals(List.of(), base.nics());
        assertEquals("netns=netns/x: must be an absolute path",
                failure(() -> base.withNetwork(Path.of("netns/x"), List.of())));
        VmSpec.Nic nic = new VmSpec.Nic("net0", "tap0", "02:00:00:00:00:01");
        VmSpec.Nic sameTap = new VmSpec.Nic("net1", "tap0", "02:00:00:00:00:02");
        assertEquals("nics=" + sameTap + ": ids and tap names must be unique",
                failure(() -> base.withNetwork(Path.of("/n"), List.of(nic, sameTap))));
        assertEquals(List.of(nic), base.withNetwork(Path.of("/n"), List.of(nic)).nics());
    }
}
