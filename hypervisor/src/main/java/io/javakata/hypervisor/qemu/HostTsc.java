package io.javakata.hypervisor.qemu;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalLong;

/**
 * The host's TSC frequency, for guests that cannot measure it themselves.
 *
 * <p>Why: microvm has no HPET and no ACPI PM timer, so the guest kernel can calibrate its TSC only
 * against the PIT. Under TCG on a loaded host that calibration fails ("tsc: Unable to calibrate
 * against PIT", "No reference (HPET/PMTIMER) available", "Marking TSC unstable") and the boot hangs
 * right there, with no further output: measured here 8 of 8 microvm boots hung at load average ~6,
 * and 0 of 6 hung with {@code tsc_early_khz=} set. Under TCG the guest's rdtsc reads the host's TSC
 * (QEMU's cpu_get_host_ticks), so the host's frequency is the right value to pass.
 */
final class HostTsc {

    static final Path CPUINFO = Path.of("/proc/cpuinfo");

    private HostTsc() {
    }

    /**
     * The TSC frequency in kHz from {@code cpuinfo}'s first "cpu MHz" line, if the CPU has a
     * constant-rate TSC (flag constant_tsc); empty otherwise or if unreadable.
     */
    static OptionalLong khz(Path cpuinfo) {
        List<String> lines;
        try {
            lines = Files.readAllLines(cpuinfo);
        } catch (IOException e) {
            return OptionalLong.empty();
        }
        boolean constant = lines.stream().anyMatch(l -> l.startsWith("flags") && l.matches(".*\\bconstant_tsc\\b.*"));
        if (!constant) {
            return OptionalLong.empty();
        }
        for (String line : lines) {
            if (line.startsWith("cpu MHz")) {
                try {
                    double mhz = Double.parseDouble(line.substring(line.indexOf(':') + 1).strip());
                    return mhz > 0 ? OptionalLong.of(Math.round(mhz * 1000)) : OptionalLong.empty();
                } catch (NumberFormatException | StringIndexOutOfBoundsException e) {
                    return OptionalLong.empty();
                }
            }
        }
        return OptionalLong.empty();
    }
}
