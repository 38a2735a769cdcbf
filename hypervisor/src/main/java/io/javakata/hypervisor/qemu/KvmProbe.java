package io.javakata.hypervisor.qemu;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.javakata.hypervisor.Accelerator;
import io.javakata.hypervisor.ChildProcesses;
import io.javakata.hypervisor.PvmHost;

import java.io.File;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Decides whether a VM runs under KVM or TCG (QEMU manual, {@code -accel}: KVM is usable only if /dev/kvm opens and QEMU starts
 * with {@code -accel kvm}; otherwise TCG).
 *
 * <p>A host without {@code /dev/kvm} is told so first (and, on a PVM host, that its KVM would not do either). The device
 * existing and opening is not enough: a PVM host's KVM runs only guest kernels built for PVM ({@link PvmHost}), so it
 * is refused before anything is probed, cache included: with some host kernels QEMU aborts at
 * vCPU reset there ("failed to set MSR 0x10a"), with others it starts, {@code query-kvm} reports KVM enabled, and the
 * stock guest kernel hangs without a line of output. Elsewhere the probe launches QEMU for real with the machine
 * type, {@code -accel kvm -cpu host -S} ({@code -accel kvm -accel tcg} does not fall back once the accelerator
 * initialised), checks that it survives about a second and that {@code query-kvm} reports enabled. That costs a
 * second or so, so the verdict is cached per host boot (key: {@code /proc/sys/kernel/random/boot_id}, the QEMU
 * binary and the machine type).
 *
 * <p>Blocking: {@link #choose} may run QEMU for up to about {@value #PROBE_BUDGET_SECONDS} seconds.
 * Thread-safe; concurrent callers may both probe, and the last writer's cache wins.
 */
public final class KvmProbe {

    /** Where the verdict is cached unless told otherwise. */
    public static final Path DEFAULT_CACHE = Path.of("/run/javakata/kvm-probe.json");

    static final int PROBE_BUDGET_SECONDS = 12;
    private static final Path DEV_KVM = Path.of("/dev/kvm");
    private static final Path BOOT_ID = Path.of("/proc/sys/kernel/random/boot_id");
    private static final String QMP_SOCKET = "qmp.sock";
    private static final String QEMU_LOG = "qemu.log";
    private static final Duration QMP_TIMEOUT = Duration.ofSeconds(10);
    private static final Duration SURVIVAL = Duration.ofSeconds(1);
    private static final System.Logger LOG = System.getLogger(KvmProbe.class.getName());
    private static final ObjectMapper JSON = new ObjectMapper();

    private KvmProbe() {
    }

    /**
     * What the probe found: whether KVM works, and why (or why not).
     *
     * @param conclusive false when the probe itself could not finish (QEMU missing, QMP timeout on a
     *                   loaded host): such a verdict is used once but not cached, so a transient
     *                   failure does not pin a KVM host to TCG until it reboots
     */
    record Verdict(boolean kvmUsable, String reason, boolean conclusive) {
        static Verdict of(boolean kvmUsable, String reason) {
            return new Verdict(kvmUsable, reason, true);
        }

        static Verdict inconclusive(String reason) {
            return new Verdict(false, reason, false);
        }
    }

    /**
     * Chooses the accelerator for a VM.
     *
     * @param requested  AUTO (probe, fall back to TCG), KVM (probe, fail if unusable) or TCG
     * @param qemuBinary the QEMU that will run the VM
     * @param machine    the machine type it will use (q35 or microvm)
     * @param cacheFile  where verdicts are cached per host boot; an unwritable cache is only logged
     * @throws IOException if KVM is requested but unusable, with the reason
     */
    public static Accelerator.Choice choose(Accelerator requested, Path qemuBinary, String machine, Path cacheFile)
            throws IOException {
        return choose(requested, qemuBinary, machine, cacheFile, DEV_KVM, PvmHost.SYS_MODULE);
    }

    /**
     * As {@link #choose(Accelerator, Path, String, Path)}, with {@code /dev/kvm} and {@code /sys/module} parameters
     * for tests. A host without the device is told so first, and whether its KVM would be PVM anyway.
     */
    static Accelerator.Choice choose(Accelerator requested, Path qemuBinary, String machine, Path cacheFile,
            Path devKvm, Path sysModule) throws IOException {
        Objects.requireNonNull(requested, "requested");
        if (requested == Accelerator.TCG) {
            return new Accelerator.Choice(Accelerator.TCG, "requested by configuration");
        }
        Optional<String> pvm = PvmHost.check(sysModule);
        Verdict verdict;
        if (!Files.exists(devKvm)) {
            verdict = Verdict.of(false, "no " + devKvm + pvm.map(p -> "; " + p).orElse(""));
        } else if (pvm.isPresent()) {
            verdict = Verdict.of(false, pvm.get());
        } else {
            verdict = cachedOrProbe(devKvm, qemuBinary, machine, cacheFile);
        }
        if (requested == Accelerator.KVM) {
            if (!verdict.kvmUsable()) {
                throw new IOException("accelerator=KVM is configured but KVM is unusable on this host: "
                        + verdict.reason() + " (configure AUTO to fall back to TCG)");
            }
            return new Accelerator.Choice(Accelerator.KVM, "requested by configuration; " + verdict.reason());
        }
        return new Accelerator.Choice(verdict.kvmUsable() ? Accelerator.KVM : Accelerator.TCG, verdict.reason());
    }

    private static Verdict cachedOrProbe(Path devKvm, Path qemuBinary, String machine, Path cacheFile) {
        String bootId = bootId();
        String key = qemuBinary.toAbsolutePath() + "|" + machine;
        Verdict cached = readCache(cacheFile, bootId, key);
        if (cached != null) {
            return Verdict.of(cached.kvmUsable(), cached.reason() + " (verdict cached for this host boot in "
                    + cacheFile + ")");
        }
        Verdict verdict = probe(devKvm, qemuBinary, machine);
        if (verdict.conclusive()) {
            writeCache(cacheFile, bootId, key, verdict);
        }
        return verdict;
    }

    /** Probes without any cache. {@code devKvm} is a parameter so a test can point it elsewhere. */
    static Verdict probe(Path devKvm, Path qemuBinary, String machine) {
        if (!Files.exists(devKvm)) {
            return Verdict.of(false, "no " + devKvm);
        }
        try (FileChannel _ = FileChannel.open(devKvm, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            LOG.log(System.Logger.Level.DEBUG, "{0} opens; trying QEMU with -accel kvm", devKvm);
        } catch (IOException | UnsupportedOperationException e) {
            return Verdict.of(false, "cannot open " + devKvm + ": " + e.getMessage());
        }
        Path dir = null;
        try {
            dir = Files.createTempDirectory("javakata-kvm-probe-");
            return probeWithQemu(dir.resolve(QMP_SOCKET), dir.resolve(QEMU_LOG), qemuBinary, machine);
        } catch (IOException e) {
            return Verdict.inconclusive("KVM probe could not run QEMU: " + e.getMessage());
        } finally {
            if (dir != null) {
                // QEMU writes nothing else in it.
                ChildProcesses.deleteQuietly(dir.resolve(QMP_SOCKET));
                ChildProcesses.deleteQuietly(dir.resolve(QEMU_LOG));
                ChildProcesses.deleteQuietly(dir);
            }
        }
    }

    private static Verdict probeWithQemu(Path qmpSocket, Path log, Path qemuBinary, String machine)
            throws IOException {
        List<String> argv = List.of(qemuBinary.toString(), "-accel", "kvm", "-cpu", "host", "-S",
                "-M", machine, "-nodefaults", "-display", "none",
                "-qmp", "unix:" + qmpSocket + ",server=on,wait=off");
        Process qemu = new ProcessBuilder(argv)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .start();
        try (QmpClient qmp = QmpConnector.connect(qmpSocket, qemu, QMP_TIMEOUT)) {
            if (ChildProcesses.awaitExit(qemu.toHandle(), SURVIVAL)) {
                return failed(qemu, log);
            }
            JsonNode kvm = qmp.execute("query-kvm", Map.of(), QMP_TIMEOUT);
            if (!qemu.isAlive()) {
                return failed(qemu, log);
            }
            if (!kvm.path("enabled").asBoolean(false)) {
                return Verdict.of(false, "QEMU started with -accel kvm but query-kvm reports " + kvm);
            }
            return Verdict.of(true, "QEMU ran with -accel kvm -cpu host and query-kvm reports enabled");
        } catch (IOException e) {
            return qemu.isAlive() ? Verdict.inconclusive("KVM probe failed: " + e.getMessage()) : failed(qemu, log);
        } finally {
            ChildProcesses.terminate(qemu.toHandle(), Duration.ofSeconds(1));
        }
    }

    private static Verdict failed(Process qemu, Path log) {
        ChildProcesses.awaitExit(qemu.toHandle(), Duration.ofSeconds(1));
        String code = qemu.isAlive() ? "" : " (exit code " + qemu.exitValue() + ")";
        return Verdict.of(false, "KVM initialised but QEMU failed" + code + ": "
                + ChildProcesses.logTail(log, 400).replace('\n', ' '));
    }

    private static String bootId() {
        try {
            return Files.readString(BOOT_ID).strip();
        } catch (IOException e) {
            return "unknown";
        }
    }

    private static Verdict readCache(Path cacheFile, String bootId, String key) {
        if (!Files.exists(cacheFile)) {
            return null;
        }
        try {
            JsonNode root = JSON.readTree(cacheFile.toFile());
            if (!bootId.equals(root.path("bootId").asText()) || "unknown".equals(bootId)) {
                return null;
            }
            JsonNode entry = root.path("verdicts").path(key);
            if (!entry.has("kvm") || !entry.has("reason")) {
                return null;
            }
            return Verdict.of(entry.get("kvm").asBoolean(), entry.get("reason").asText());
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "ignoring unreadable KVM probe cache {0}: {1}", cacheFile,
                    e.getMessage());
            return null;
        }
    }

    private static void writeCache(Path cacheFile, String bootId, String key, Verdict verdict) {
        try {
            ObjectNode root = JSON.createObjectNode();
            root.put("bootId", bootId);
            ObjectNode verdicts = root.putObject("verdicts");
            if (Files.exists(cacheFile)) {
                JsonNode old = JSON.readTree(cacheFile.toFile());
                if (bootId.equals(old.path("bootId").asText()) && old.path("verdicts").isObject()) {
                    verdicts.setAll((ObjectNode) old.get("verdicts"));
                }
            }
            ObjectNode entry = verdicts.putObject(key);
            entry.put("kvm", verdict.kvmUsable());
            entry.put("reason", verdict.reason());
            Path parent = cacheFile.toAbsolutePath().getParent();
            Files.createDirectories(parent);
            Path temp = Files.createTempFile(parent, ".kvm-probe", ".tmp");
            try {
                JSON.writerWithDefaultPrettyPrinter().writeValue(temp.toFile(), root);
                Files.move(temp, cacheFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } finally {
                Files.deleteIfExists(temp);
            }
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot write KVM probe cache {0}: {1}", cacheFile, e.getMessage());
        }
    }
}
