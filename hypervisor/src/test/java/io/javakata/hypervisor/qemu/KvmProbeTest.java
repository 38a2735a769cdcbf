package io.javakata.hypervisor.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javakata.hypervisor.Accelerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Runs the real probe and checks its verdict against what {@link HostFacts} finds on this host: AUTO
 * comes back as KVM on a host where QEMU runs under KVM and as TCG, with QEMU's reason, on one where it
 * does not (no /dev/kvm, or a KVM that initialises but aborts at vCPU reset).
 */
@Timeout(60)
class KvmProbeTest {

    private static final Path QEMU = Path.of("/usr/bin/qemu-system-x86_64");
    private static final Path DEV_KVM = Path.of("/dev/kvm");
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private static Accelerator hostAccelerator() throws IOException, InterruptedException {
        return HostFacts.kvmUsable(QEMU) ? Accelerator.KVM : Accelerator.TCG;
    }

    /**
     * What the probe itself finds with QEMU, on a stand-in {@code /sys/module} without kvm_pvm: the cache tests
     * need the probe to run and its verdict to be cached, which a PVM host (this project's machines) skips.
     */
    private static Accelerator probedAccelerator() throws IOException, InterruptedException {
        return HostFacts.qemuStartsKvm(QEMU) ? Accelerator.KVM : Accelerator.TCG;
    }

    /**
     * The device the cache tests hand the probe: this host's /dev/kvm, or where there is none a stand-in file that
     * opens, so that the probe still runs QEMU (which fails without the real device) and caches its verdict.
     */
    private Path probeDevice() throws IOException {
        return Files.exists(DEV_KVM) ? DEV_KVM : Files.createFile(dir.resolve("stand-in-kvm"));
    }

    private Path noPvm() throws IOException {
        return Files.createDirectories(dir.resolve("stand-in/sys/module/kvm"));
    }

    @Test
    void autoChoosesWhatTheHostSupportsWithAReasonAndReusesTheCachedVerdict() throws Exception {
        Accelerator.Choice onThisHost = KvmProbe.choose(Accelerator.AUTO, QEMU, "q35", dir.resolve("host.json"));
        assertEquals(hostAccelerator(), onThisHost.accelerator(), onThisHost.reason());

        Accelerator expected = probedAccelerator();
        Path modules = noPvm().getParent();
        Path cache = dir.resolve("run/kvm-probe.json");
        Path device = probeDevice();
        long t0 = System.nanoTime();
        Accelerator.Choice first = KvmProbe.choose(Accelerator.AUTO, QEMU, "q35", cache, device, modules);
        long probeMillis = (System.nanoTime() - t0) / 1_000_000;
        System.out.println("KVM probe took " + probeMillis + " ms: " + first);

        assertEquals(expected, first.accelerator(), first.reason());
        assertFalse(first.reason().isBlank());
        JsonNode written = JSON.readTree(cache.toFile());
        assertEquals(Files.readString(Path.of("/proc/sys/kernel/random/boot_id")).strip(),
                written.path("bootId").asText());
        JsonNode entry = written.path("verdicts").path(QEMU + "|q35");
        assertEquals(expected == Accelerator.KVM, entry.path("kvm").asBoolean());
        assertEquals(first.reason(), entry.path("reason").asText());

        // Reuse: a marked reason in the cache must come back, proving QEMU was not run again.
        ((ObjectNode) entry).put("reason", "marked by the test");
        JSON.writeValue(cache.toFile(), written);
        Accelerator.Choice second = KvmProbe.choose(Accelerator.AUTO, QEMU, "q35", cache, device, modules);
        assertEquals(expected, second.accelerator());
        assertTrue(second.reason().startsWith("marked by the test (verdict cached for this host boot"),
                second.reason());
    }

    @Test
    void aCacheFromAnotherBootIsIgnoredAndReplaced() throws Exception {
        Accelerator expected = probedAccelerator();
        Path cache = dir.resolve("kvm-probe.json");
        // The stale verdict says the opposite of what this host has, so using it would show.
        Files.writeString(cache, "{\"bootId\": \"another-boot\", \"verdicts\": {\"" + QEMU
                + "|q35\": {\"kvm\": " + (expected != Accelerator.KVM) + ", \"reason\": \"stale\"}}}");
        Accelerator.Choice choice = KvmProbe.choose(Accelerator.AUTO, QEMU, "q35", cache, probeDevice(),
                noPvm().getParent());
        assertEquals(expected, choice.accelerator(), choice.reason());
        assertFalse(choice.reason().contains("stale"));
        assertFalse(Files.readString(cache).contains("another-boot"));
    }

    @Test
    void tcgRequestedNeedsNoProbe() throws IOException {
        Path cache = dir.resolve("kvm-probe.json");
        Accelerator.Choice choice = KvmProbe.choose(Accelerator.TCG, QEMU, "q35", cache);
        assertEquals(new Accelerator.Choice(Accelerator.TCG, "requested by configuration"), choice);
        assertFalse(Files.exists(cache));
    }

    @Test
    void kvmRequestedIsGrantedWhereUsableAndAClearErrorWhereNot() throws Exception {
        if (hostAccelerator() == Accelerator.KVM) {
            Accelerator.Choice choice = KvmProbe.choose(Accelerator.KVM, QEMU, "q35", dir.resolve("kvm-probe.json"));
            assertEquals(Accelerator.KVM, choice.accelerator());
            assertTrue(choice.reason().startsWith("requested by configuration; "), choice.reason());
            return;
        }
        IOException e = assertThrows(IOException.class,
                () -> KvmProbe.choose(Accelerator.KVM, QEMU, "q35", dir.resolve("kvm-probe.json")));
        assertTrue(e.getMessage().startsWith("accelerator=KVM is configured but KVM is unusable on this host: "),
                e.getMessage());
    }

    /**
     * A device that opens but a QEMU that cannot run: inconclusive, so never cached. A regular file stands in
     * for /dev/kvm, which many hosts (this one included, at times) do not have.
     */
    @Test
    void aQemuThatCannotRunGivesAnInconclusiveVerdictThatIsNotCached() throws IOException {
        Path device = Files.writeString(dir.resolve("kvm-stand-in"), "");
        KvmProbe.Verdict verdict = KvmProbe.probe(device, dir.resolve("no-such-qemu"), "q35");
        assertFalse(verdict.kvmUsable());
        assertTrue(verdict.reason().startsWith("KVM probe could not run QEMU: "), verdict.reason());
        assertFalse(verdict.conclusive(), "an inconclusive verdict must not be cached");
    }

    @Test
    void noDeviceAndUnopenableDeviceAreReasonsToo() {
        assertEquals(new KvmProbe.Verdict(false, "no " + dir.resolve("kvm"), true),
                KvmProbe.probe(dir.resolve("kvm"), QEMU, "q35"));
        KvmProbe.Verdict verdict = KvmProbe.probe(dir, QEMU, "q35");
        assertFalse(verdict.kvmUsable());
        assertTrue(verdict.reason().startsWith("cannot open " + dir), verdict.reason());
    }

    /** Without /dev/kvm that is the reason, first; a PVM module beside it is named too, and nothing is probed. */
    @Test
    void noDeviceIsTheReasonAndAPvmHostSaysBoth() throws Exception {
        Path modules = dir.resolve("sys/module");
        Files.createDirectories(modules.resolve("kvm"));
        Path cache = dir.resolve("kvm-probe.json");
        Path absent = dir.resolve("no-kvm");
        assertEquals(new Accelerator.Choice(Accelerator.TCG, "no " + absent),
                KvmProbe.choose(Accelerator.AUTO, QEMU, "q35", cache, absent, modules));
        Files.createDirectories(modules.resolve("kvm_pvm"));
        assertEquals(new Accelerator.Choice(Accelerator.TCG, "no " + absent + "; this host's KVM is PVM (module "
                + "kvm_pvm, no kvm_intel or kvm_amd): it runs only guest kernels built for PVM, and a stock guest "
                + "kernel does not boot under it"), KvmProbe.choose(Accelerator.AUTO, QEMU, "q35", cache, absent, modules));
        assertFalse(Files.exists(cache), "nothing was probed, so nothing was cached");
    }

    /**
     * A PVM host: its /dev/kvm may open and QEMU may even start with {@code -accel kvm}, but a stock guest kernel
     * hangs. AUTO falls back to TCG naming PVM, KVM is refused, and a cached verdict that says otherwise (written by
     * an earlier build on this boot) is not used.
     */
    @Test
    void aPvmHostGetsTcgWhateverTheCacheSays() throws Exception {
        Path modules = dir.resolve("sys/module");
        Files.createDirectories(modules.resolve("kvm"));
        Files.createDirectories(modules.resolve("kvm_pvm"));
        Path cache = dir.resolve("kvm-probe.json");
        // A device that opens, as a PVM host's does: what refuses it is the module, not the device.
        Path device = Files.createFile(dir.resolve("kvm"));
        Files.writeString(cache, "{\"bootId\": \"" + Files.readString(Path.of("/proc/sys/kernel/random/boot_id")).strip()
                + "\", \"verdicts\": {\"" + QEMU + "|q35\": {\"kvm\": true, \"reason\": \"cached\"}}}");

        Accelerator.Choice choice = KvmProbe.choose(Accelerator.AUTO, QEMU, "q35", cache, device, modules);
        assertEquals(new Accelerator.Choice(Accelerator.TCG, "this host's KVM is PVM (module kvm_pvm, no kvm_intel or "
                + "kvm_amd): it runs only guest kernels built for PVM, and a stock guest kernel does not boot under it"),
                choice);
        IOException e = assertThrows(IOException.class,
                () -> KvmProbe.choose(Accelerator.KVM, QEMU, "q35", cache, device, modules));
        assertTrue(e.getMessage().startsWith("accelerator=KVM is configured but KVM is unusable on this host: this "
                + "host's KVM is PVM"), e.getMessage());

        // With kvm_intel beside it the host has hardware KVM, and the cache is read again.
        Files.createDirectories(modules.resolve("kvm_intel"));
        Accelerator.Choice cached = KvmProbe.choose(Accelerator.AUTO, QEMU, "q35", cache, device, modules);
        assertEquals(Accelerator.KVM, cached.accelerator());
        assertTrue(cached.reason().startsWith("cached (verdict cached for this host boot"), cached.reason());
    }
}
