package io.javakata.shim.metrics;

import java.util.Locale;

/** QEMU's size suffixes (k, M, G, T, binary; a bare number of {@code -m} is MiB): QEMU's qemu-options.hx, {@code -m}. */
final class QemuSizes {

    private QemuSizes() {
    }

    /** {@code -m}'s value in bytes ("512M", "1G", "512"). */
    static long bytes(String value) {
        String v = value.strip().toUpperCase(Locale.ROOT);
        if (v.isEmpty()) {
            throw new NumberFormatException("empty size");
        }
        char unit = v.charAt(v.length() - 1);
        long shift = switch (unit) {
            case 'K' -> 10;
            case 'M' -> 20;
            case 'G' -> 30;
            case 'T' -> 40;
            default -> -1;
        };
        if (shift < 0) {
            return Long.parseLong(v) << 20;
        }
        return Long.parseLong(v.substring(0, v.length() - 1)) << shift;
    }
}
