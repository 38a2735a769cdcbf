package io.javakata.shim.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.javakata.hypervisor.VmSpec;
import io.javakata.shim.config.RuntimeConfig;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(value = 10, unit = TimeUnit.SECONDS)
class SandboxSizingTest {

    private static final RuntimeConfig.Hypervisor CONFIG = RuntimeConfig.Hypervisor.defaults(); // 1 vCPU, 512 MiB
    private static final SandboxSizing.Host BIG_HOST = new SandboxSizing.Host(64, 256 * 1024);

    @TempDir
    Path tmp;

    @Test
    void withoutAnnotationsTheConfigurationDecides() {
        assertEquals(new SandboxSizing(1, 512), SandboxSizing.of(CONFIG, Map.of(), BIG_HOST));
    }

    @Test
    void podResourcesAreAddedToTheBaseRoundedUp() {
        // Kata's example: quota 220000 over period 100000 is 2.2 CPUs, rounded up to 3.
        Map<String, String> pod = Map.of(SandboxSizing.CPU_QUOTA, "220000", SandboxSizing.CPU_PERIOD, "100000",
                SandboxSizing.MEMORY, String.valueOf(256L * 1024 * 1024 + 1));
        assertEquals(new SandboxSizing(4, 512 + 257), SandboxSizing.of(CONFIG, pod, BIG_HOST));
    }

    @Test
    void unlimitedOrMalformedCriValuesAddNothing() {
        Map<String, String> pod = Map.of(SandboxSizing.CPU_QUOTA, "-1", SandboxSizing.CPU_PERIOD, "100000",
                SandboxSizing.MEMORY, "lots");
        assertEquals(new SandboxSizing(1, 512), SandboxSizing.of(CONFIG, pod, BIG_HOST));
        assertEquals(new SandboxSizing(1, 512),
                SandboxSizing.of(CONFIG, Map.of(SandboxSizing.CPU_QUOTA, "50000"), BIG_HOST), "quota without period");
    }

    @Test
    void overridesReplaceTheBase() {
        Map<String, String> pod = Map.of(SandboxSizing.VCPUS, "2", SandboxSizing.MEMORY_MIB, "384",
                SandboxSizing.CPU_QUOTA, "150000", SandboxSizing.CPU_PERIOD, "100000",
                SandboxSizing.MEMORY, String.valueOf(256L * 1024 * 1024));
        assertEquals(new SandboxSizing(4, 640), SandboxSizing.of(CONFIG, pod, BIG_HOST));
    }

    @Test
    void theHostCaps() {
        Map<String, String> pod = Map.of(SandboxSizing.VCPUS, "8", SandboxSizing.MEMORY_MIB, "4096",
                SandboxSizing.CPU_QUOTA, String.valueOf(Long.MAX_VALUE), SandboxSizing.CPU_PERIOD, "1");
        assertEquals(new SandboxSizing(2, 3000), SandboxSizing.of(CONFIG, pod, new SandboxSizing.Host(2, 3000)));
    }

    @Test
    void badOverridesAreRefusedNamingKeyValueAndRange() {
        RuntimeStatusException zero = assertThrows(RuntimeStatusException.class,
                () -> SandboxSizing.of(CONFIG, Map.of(SandboxSizing.VCPUS, "0"), BIG_HOST));
        assertEquals(Code.INVALID_ARGUMENT, zero.code());
        assertEquals("io.javakata.config.hypervisor.vcpus=0 in sandbox annotations: must be between 1 and 254",
                zero.getMessage());
        RuntimeStatusException text = assertThrows(RuntimeStatusException.class,
                () -> SandboxSizing.of(CONFIG, Map.of(SandboxSizing.MEMORY_MIB, "1G"), BIG_HOST));
        assertEquals("io.javakata.config.hypervisor.memory_mib=1G in sandbox annotations: must be a whole number "
                + "between 128 and 1048576", text.getMessage());
        RuntimeStatusException small = assertThrows(RuntimeStatusException.class,
                () -> SandboxSizing.of(CONFIG, Map.of(SandboxSizing.MEMORY_MIB, "32"), BIG_HOST));
        assertTrue(small.getMessage().contains("=32 in sandbox annotations: must be between 128 and 1048576"),
                small.getMessage());
    }

    /** The overrides are held to VmSpec's limits, as the configuration file is: what passes here boots. */
    @Test
    void overridesAreHeldToTheVmLimits() {
        RuntimeStatusException below = assertThrows(RuntimeStatusException.class,
                () -> SandboxSizing.of(CONFIG, Map.of(SandboxSizing.MEMORY_MIB, "100"), BIG_HOST));
        assertEquals("io.javakata.config.hypervisor.memory_mib=100 in sandbox annotations: must be between "
                + VmSpec.MIN_MEMORY_MIB + " and " + VmSpec.MAX_MEMORY_MIB, below.getMessage());
        RuntimeStatusException above = assertThrows(RuntimeStatusException.class,
                () -> SandboxSizing.of(CONFIG, Map.of(SandboxSizing.VCPUS, "255"), BIG_HOST));
        assertEquals("io.javakata.config.hypervisor.vcpus=255 in sandbox annotations: must be between "
                + VmSpec.MIN_VCPUS + " and " + VmSpec.MAX_VCPUS, above.getMessage());
        SandboxSizing least = SandboxSizing.of(CONFIG, Map.of(SandboxSizing.VCPUS, String.valueOf(VmSpec.MIN_VCPUS),
                SandboxSizing.MEMORY_MIB, String.valueOf(VmSpec.MIN_MEMORY_MIB)), BIG_HOST);
        assertEquals(new SandboxSizing(VmSpec.MIN_VCPUS, VmSpec.MIN_MEMORY_MIB), least);
        SandboxSizing most = SandboxSizing.of(CONFIG, Map.of(SandboxSizing.VCPUS, String.valueOf(VmSpec.MAX_VCPUS),
                SandboxSizing.MEMORY_MIB, String.valueOf(VmSpec.MAX_MEMORY_MIB), SandboxSizing.MEMORY,
                String.valueOf(Long.MAX_VALUE)), new SandboxSizing.Host(1024, Long.MAX_VALUE));
        assertEquals(new SandboxSizing(VmSpec.MAX_VCPUS, VmSpec.MAX_MEMORY_MIB), most);
    }

    @Test
    void hostMemoryComesFromMeminfo() throws IOException {
        Path meminfo = Files.writeString(tmp.resolve("meminfo"), "MemTotal:       24577432 kB\nMemFree: 1 kB\n");
        assertEquals(24001, SandboxSizing.Host.memTotalMiB(meminfo));
        assertTrue(SandboxSizing.Host.current().cpus() >= 1);
    }
}
