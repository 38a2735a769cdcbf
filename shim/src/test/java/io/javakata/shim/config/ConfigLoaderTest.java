package io.javakata.shim.config;

import io.javakata.hypervisor.Accelerator;
import io.javakata.hypervisor.VmSpec;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(10)
class ConfigLoaderTest {

    @TempDir
    Path dir;

    private Path write(String toml) throws Exception {
        Path file = dir.resolve("configuration.toml");
        Files.writeString(file, toml);
        return file;
    }

    @Test
    void emptyFileGivesTheDefaults() throws Exception {
        assertEquals(RuntimeConfig.defaults(), ConfigLoader.load(write("")));
        assertEquals(RuntimeConfig.defaults(), ConfigLoader.load(write("[hypervisor]\n[runtime]\n")));
    }

    @Test
    void theInstalledFileSpellsOutTheDefaults() {
        assertEquals(RuntimeConfig.defaults(), ConfigLoader.load(Path.of("src/main/dist/configuration.toml")));
    }

    @Test
    void overridesOnlyTheKeysGiven() throws Exception {
        RuntimeConfig c = ConfigLoader.load(write("""
                [hypervisor]
                accel = "tcg"
                vcpus = 2
                memory_mib = 1024
                kernel_params = "quiet panic=1"
                boot_timeout_seconds = 120
                run_as = ""
                console_log_max_kib = 64
                guest_lockdown = "none"
                [virtiofsd]
                cache = "none"
                [agent]
                transport = "vsock"
                request_timeout_seconds = 7
                debug_console = true
                [runtime]
                state_dir = "/tmp/jk"
                debug = true
                warm_shims = 2
                """));
        var d = RuntimeConfig.defaults();
        assertEquals(new RuntimeConfig.Hypervisor(RuntimeConfig.HypervisorType.QEMU, d.hypervisor().path(),
                d.hypervisor().kernel(), d.hypervisor().initrd(), d.hypervisor().agentImage(), RuntimeConfig.Machine.Q35, Accelerator.TCG, 2, 1024,
                "quiet panic=1", Duration.ofSeconds(120), "", 64, RuntimeConfig.GuestLockdown.NONE), c.hypervisor());
        assertEquals("quiet panic=1", c.hypervisor().guestKernelParams());
        assertEquals(new RuntimeConfig.Virtiofsd(d.virtiofsd().path(), RuntimeConfig.VirtiofsCache.NONE),
                c.virtiofsd());
        assertEquals(new RuntimeConfig.Agent(VmSpec.AgentChannel.VSOCK, Duration.ofSeconds(7), true), c.agent());
        assertEquals(new RuntimeConfig.Runtime(Path.of("/tmp/jk"), true, 2), c.runtime());
    }

    @Test
    void namesFromAFixedSetBecomeEnums() throws Exception {
        RuntimeConfig c = ConfigLoader.load(write("""
                [hypervisor]
                type = "qemu"
                machine = "microvm"
                accel = "kvm"
                [virtiofsd]
                cache = "always"
                [agent]
                transport = "vsock"
                """));
        assertEquals(RuntimeConfig.HypervisorType.QEMU, c.hypervisor().type());
        assertEquals(RuntimeConfig.Machine.MICROVM, c.hypervisor().machine());
        assertEquals(Accelerator.KVM, c.hypervisor().accel());
        assertEquals(RuntimeConfig.VirtiofsCache.ALWAYS, c.virtiofsd().cache());
        assertEquals(RuntimeConfig.Transport.VSOCK, c.agent().transport());
    }

    @Test
    void cloudHypervisorHasItsOwnDefaultPathUnlessOneIsGiven() throws Exception {
        RuntimeConfig c = ConfigLoader.load(write("[hypervisor]\ntype = \"cloud-hypervisor\"\n"));
        assertEquals(RuntimeConfig.HypervisorType.CLOUD_HYPERVISOR, c.hypervisor().type());
        assertEquals(RuntimeConfig.Hypervisor.DEFAULT_CLOUD_HYPERVISOR_PATH, c.hypervisor().path());
        assertEquals("cloud-hypervisor", RuntimeConfig.tomlName(c.hypervisor().type()));
        RuntimeConfig given = ConfigLoader.load(write("[hypervisor]\ntype = \"cloud-hypervisor\"\n"
                + "path = \"/opt/ch/cloud-hypervisor\"\n"));
        assertEquals(Path.of("/opt/ch/cloud-hypervisor"), given.hypervisor().path());
    }

    @Test
    void theLimitsAreVmSpecsOwn() throws Exception {
        String sized = "[hypervisor]\nvcpus = %d\nmemory_mib = %d\nconsole_log_max_kib = %d\n";
        RuntimeConfig least = ConfigLoader.load(write(sized.formatted(VmSpec.MIN_VCPUS, VmSpec.MIN_MEMORY_MIB,
                VmSpec.MIN_CONSOLE_LOG_BYTES / 1024)));
        assertEquals(VmSpec.MIN_VCPUS, least.hypervisor().vcpus());
        assertEquals(VmSpec.MIN_MEMORY_MIB, least.hypervisor().memoryMiB());
        assertEquals(VmSpec.MIN_CONSOLE_LOG_BYTES, least.hypervisor().consoleLogMaxKiB() * 1024L);
        RuntimeConfig most = ConfigLoader.load(write(sized.formatted(VmSpec.MAX_VCPUS, VmSpec.MAX_MEMORY_MIB,
                VmSpec.MAX_CONSOLE_LOG_BYTES / 1024)));
        assertEquals(VmSpec.MAX_VCPUS, most.hypervisor().vcpus());
        assertEquals(VmSpec.MAX_MEMORY_MIB, most.hypervisor().memoryMiB());
        assertEquals(VmSpec.MAX_CONSOLE_LOG_BYTES, most.hypervisor().consoleLogMaxKiB() * 1024L);
    }

    @Test
    void unknownKeyNamesKeyFileAndKnownKeys() throws Exception {
        Path file = write("[hypervisor]\nvcpu = 2\n");
        var e = assertThrows(RuntimeStatusException.class, () -> ConfigLoader.load(file));
        assertEquals(Code.INVALID_ARGUMENT, e.code());
        assertEquals("unknown key hypervisor.vcpu in " + file + "; known keys: accel, agent_image, boot_timeout_seconds, "
                + "console_log_max_kib, guest_lockdown, initrd, kernel, kernel_params, machine, memory_mib, path, run_as, type, "
                + "vcpus", e.getMessage());
    }

    @Test
    void theGuestKernelIsLockedDownUnlessToldOtherwise() throws Exception {
        var defaults = ConfigLoader.load(write("[hypervisor]\nkernel_params = \" quiet \"\n")).hypervisor();
        assertEquals(RuntimeConfig.GuestLockdown.CONFIDENTIALITY, defaults.lockdown());
        assertEquals("lockdown=confidentiality quiet", defaults.guestKernelParams());
        var integrity = ConfigLoader.load(write("[hypervisor]\nguest_lockdown = \"integrity\"\n")).hypervisor();
        assertEquals("lockdown=integrity", integrity.guestKernelParams());
        var none = ConfigLoader.load(write("[hypervisor]\nguest_lockdown = \"none\"\n")).hypervisor();
        assertEquals("", none.guestKernelParams());
    }

    @Test
    void templatesAreOnUnlessDisabledKeepTwoByDefaultAndTheValuesAreChecked() throws Exception {
        var defaults = ConfigLoader.load(write("[runtime]\ndebug = false\n")).template();
        assertEquals(true, defaults.enabled());
        assertEquals(2, defaults.maxCount());
        assertEquals(false, ConfigLoader.load(write("[template]\nenabled = false\n")).template().enabled());
        assertEquals(5, ConfigLoader.load(write("[template]\nmax_count = 5\n")).template().maxCount());
        Path file = write("[template]\nenabled = \"yes\"\n");
        var e = assertThrows(RuntimeStatusException.class, () -> ConfigLoader.load(file));
        assertTrue(e.getMessage().startsWith("template.enabled = \"yes\" in " + file), e.getMessage());
        Path none = write("[template]\nmax_count = 0\n");
        e = assertThrows(RuntimeStatusException.class, () -> ConfigLoader.load(none));
        assertTrue(e.getMessage().startsWith("template.max_count = 0 in " + none), e.getMessage());
    }

    @Test
    void sparesAreOffUnlessAskedForAndMustBeABoolean() throws Exception {
        assertEquals(false, ConfigLoader.load(write("[runtime]\nwarm_shims = 1\n")).template().spares());
        assertEquals(true, ConfigLoader.load(write("[template]\nspares = true\n")).template().spares());
        Path file = write("[template]\nspares = 2\n");
        var e = assertThrows(RuntimeStatusException.class, () -> ConfigLoader.load(file));
        assertTrue(e.getMessage().startsWith("template.spares = 2 in " + file), e.getMessage());
    }

    @Test
    void unknownTableIsRefused() throws Exception {
        Path file = write("[network]\nmode = \"tap\"\n");
        var e = assertThrows(RuntimeStatusException.class, () -> ConfigLoader.load(file));
        assertEquals("unknown table [network] in " + file + "; known tables: hypervisor, virtiofsd, agent, runtime, template",
                e.getMessage());
    }

    /** Every kind of bad value, refused when the file is read, naming the key, the value, the file and the rule. */
    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "[hypervisor]\\ntype = \"firecracker\"|hypervisor.type = \"firecracker\" in FILE: must be one of qemu, cloud-hypervisor",
        "[hypervisor]\\npath = \"qemu-system-x86_64\"|hypervisor.path = \"qemu-system-x86_64\" in FILE: must be an absolute path",
        "[hypervisor]\\nkernel = \"vmlinuz\"|hypervisor.kernel = \"vmlinuz\" in FILE: must be an absolute path",
        "[hypervisor]\\ninitrd = 1|hypervisor.initrd = 1 in FILE: must be a string",
        "[hypervisor]\\nmachine = \"pc\"|hypervisor.machine = \"pc\" in FILE: must be one of q35, microvm",
        "[hypervisor]\\nmachine = \"Q35\"|hypervisor.machine = \"Q35\" in FILE: must be one of q35, microvm",
        "[hypervisor]\\naccel = \"foo\"|hypervisor.accel = \"foo\" in FILE: must be one of auto, kvm, tcg",
        "[runtime]\\nwarm_shims = 9|runtime.warm_shims = 9 in FILE: must be an integer from 0 to 8",
        "[runtime]\\nwarm_shims = -1|runtime.warm_shims = -1 in FILE: must be an integer from 0 to 8",
        "[hypervisor]\\nvcpus = 0|hypervisor.vcpus = 0 in FILE: must be an integer from 1 to 254",
        "[hypervisor]\\nvcpus = 255|hypervisor.vcpus = 255 in FILE: must be an integer from 1 to 254",
        "[hypervisor]\\nvcpus = \"2\"|hypervisor.vcpus = \"2\" in FILE: must be an integer from 1 to 254",
        "[hypervisor]\\nmemory_mib = 100|hypervisor.memory_mib = 100 in FILE: must be an integer from 128 to 1048576",
        "[hypervisor]\\nmemory_mib = 1048577|hypervisor.memory_mib = 1048577 in FILE: must be an integer from 128 to 1048576",
        "[hypervisor]\\nmemory_mib = 1.5|hypervisor.memory_mib = 1.5 in FILE: must be an integer from 128 to 1048576",
        "[hypervisor]\\nmemory_mib = 99999999999999999999|hypervisor.memory_mib = 99999999999999999999 in FILE: must be an integer from 128 to 1048576",
        "[hypervisor]\\nkernel_params = [\"quiet\"]|hypervisor.kernel_params = [\"quiet\"] in FILE: must be a string",
        "[hypervisor]\\nguest_lockdown = \"off\"|hypervisor.guest_lockdown = \"off\" in FILE: must be one of none, integrity, confidentiality",
        "[hypervisor]\\nkernel_params = \"quiet lockdown=integrity\"|hypervisor.kernel_params in FILE has lockdown=integrity: set hypervisor.guest_lockdown (none, integrity or confidentiality) instead",
        "[hypervisor]\\nboot_timeout_seconds = 0|hypervisor.boot_timeout_seconds = 0 in FILE: must be an integer from 1 to 3600",
        "[hypervisor]\\nboot_timeout_seconds = 3601|hypervisor.boot_timeout_seconds = 3601 in FILE: must be an integer from 1 to 3600",
        "[hypervisor]\\nrun_as = \"Qemu,x\"|hypervisor.run_as = \"Qemu,x\" in FILE: must be \"\" (root) or a user name: lower-case letters, digits, _ or -, at most 32",
        "[hypervisor]\\nrun_as = 0|hypervisor.run_as = 0 in FILE: must be a string",
        "[hypervisor]\\nconsole_log_max_kib = 8|hypervisor.console_log_max_kib = 8 in FILE: must be an integer from 16 to 1048576",
        "[hypervisor]\\nconsole_log_max_kib = 1048577|hypervisor.console_log_max_kib = 1048577 in FILE: must be an integer from 16 to 1048576",
        "[virtiofsd]\\npath = \"virtiofsd\"|virtiofsd.path = \"virtiofsd\" in FILE: must be an absolute path",
        "[virtiofsd]\\ncache = \"never\"|virtiofsd.cache = \"never\" in FILE: must be one of auto, always, none",
        "[virtiofsd]\\ncache = 3|virtiofsd.cache = 3 in FILE: must be a string",
        "[agent]\\ntransport = \"bar\"|agent.transport = \"bar\" in FILE: must be one of auto, serial, vsock, hybrid-vsock",
        "[agent]\\ntransport = \"VSOCK\"|agent.transport = \"VSOCK\" in FILE: must be one of auto, serial, vsock, hybrid-vsock",
        "[agent]\\nrequest_timeout_seconds = 0|agent.request_timeout_seconds = 0 in FILE: must be an integer from 1 to 3600",
        "[agent]\\nrequest_timeout_seconds = -5|agent.request_timeout_seconds = -5 in FILE: must be an integer from 1 to 3600",
        "[agent]\\ndebug_console = 1|agent.debug_console = 1 in FILE: must be true or false",
        "[runtime]\\nstate_dir = \"run/javakata\"|runtime.state_dir = \"run/javakata\" in FILE: must be an absolute path",
        "[runtime]\\nstate_dir = \"/run/a\\u0000b\"|runtime.state_dir = \"/run/a\\u0000b\" in FILE: must be a path: Nul character not allowed",
        "[runtime]\\ndebug = \"yes\"|runtime.debug = \"yes\" in FILE: must be true or false",
        "hypervisor = 1|hypervisor in FILE must be a table [hypervisor], not a value",
        "[hypervisor]\\ntype = \"cloud_hypervisor\"|hypervisor.type = \"cloud_hypervisor\" in FILE: must be one of qemu, cloud-hypervisor",
        "[hypervisor]\\ntype = \"cloud-hypervisor\"\\naccel = \"tcg\"|hypervisor.accel = \"tcg\" in FILE: Cloud Hypervisor (hypervisor.type = \"cloud-hypervisor\") has no TCG, it runs only on KVM; use \"auto\" or \"kvm\"",
        "[hypervisor]\\ntype = \"cloud-hypervisor\"\\n[agent]\\ndebug_console = true|agent.debug_console = true in FILE: the debug console is a virtio-serial port, which Cloud Hypervisor (hypervisor.type = \"cloud-hypervisor\") does not have",
    })
    void badValuesNameKeyValueAndRule(String toml, String message) throws Exception {
        Path file = write(toml.replace("\\n", "\n") + "\n");
        var e = assertThrows(RuntimeStatusException.class, () -> ConfigLoader.load(file));
        assertEquals(Code.INVALID_ARGUMENT, e.code());
        assertEquals(message.replace("FILE", file.toString()), e.getMessage());
    }

    @Test
    void malformedTomlNamesTheFile() throws Exception {
        Path file = write("[hypervisor\n");
        var e = assertThrows(RuntimeStatusException.class, () -> ConfigLoader.load(file));
        assertTrue(e.getMessage().startsWith("parse configuration file " + file + ": "), e.getMessage());
    }

    @Test
    void selectsOptionsThenEnvironmentThenDefault() {
        Path dflt = dir.resolve("default.toml");
        assertEquals(new ConfigLoader.Selection(Path.of("/opt/a.toml"), true), ConfigLoader.select(
                Optional.of("/opt/a.toml"), Map.of("JAVAKATA_CONFIG", "/opt/b.toml"), dflt));
        assertEquals(new ConfigLoader.Selection(Path.of("/opt/b.toml"), true), ConfigLoader.select(
                Optional.of(""), Map.of("JAVAKATA_CONFIG", "/opt/b.toml"), dflt));
        assertEquals(new ConfigLoader.Selection(dflt, false), ConfigLoader.select(Optional.empty(), Map.of(), dflt));
    }

    @Test
    void missingDefaultFileMeansDefaultsButMissingNamedFileIsAnError() {
        Path missing = dir.resolve("missing.toml");
        assertFalse(Files.exists(missing));
        assertEquals(RuntimeConfig.defaults(), new ConfigLoader.Selection(missing, false).load());
        var e = assertThrows(RuntimeStatusException.class, () -> new ConfigLoader.Selection(missing, true).load());
        assertEquals(Code.NOT_FOUND, e.code());
        assertEquals("configuration file " + missing + " does not exist", e.getMessage());
    }

    @Test
    void autoPicksVsockWhereTheHostHasItAndSerialElsewhere() {
        RuntimeConfig.Transport auto = RuntimeConfig.Transport.AUTO;
        assertEquals(VmSpec.AgentChannel.VSOCK, auto.resolve(true));
        assertEquals(VmSpec.AgentChannel.SERIAL, auto.resolve(false));
        for (VmSpec.AgentChannel channel : VmSpec.AgentChannel.values()) {
            assertEquals(channel, RuntimeConfig.Transport.of(channel).resolve(false), "a set transport stays");
            assertEquals(channel, RuntimeConfig.Transport.of(channel).resolve(true), "a set transport stays");
        }
    }
}
