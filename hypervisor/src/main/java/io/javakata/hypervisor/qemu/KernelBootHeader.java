package io.javakata.hypervisor.qemu;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * What a clone of a VM template gets as its {@code -kernel}: the template kernel's real-mode setup (its boot sector
 * and setup header, a few KiB) and no kernel behind it.
 *
 * <p>QEMU reads the whole {@code -kernel} file into memory at start-up and keeps it for the guest's boot loader
 * (fw_cfg), so each VM holds its own copy: 13.5 MiB of anonymous memory per VM for Debian's 6.1 cloud kernel. A clone
 * restores a guest whose kernel already runs and never boots one (QEMU exits on a reboot, {@code -no-reboot}), but
 * its machine must be the template's: with {@code -kernel}, x86 QEMU adds the linuxboot option ROM, whose RAM block
 * the migration stream carries. The setup header is all QEMU parses from the file to set that up (its protocol
 * version, the number of setup sectors, the load flags; QEMU v7.2.0 {@code hw/i386/x86.c}, {@code x86_load_linux}),
 * so a clone booted from this header restores like one given the whole kernel, and its QEMU holds a few KiB for it.
 *
 * <p>Layout (Linux {@code Documentation/x86/boot.rst}, "The Real-Mode Kernel Header"): the byte at 0x1F1 is the number
 * of 512-byte setup sectors after the boot sector (0 means 4), and the 32-bit little-endian word at 0x202 is the magic
 * {@code "HdrS"}. A kernel without it (an ELF vmlinux booted through PVH, say) gets no header file: its clones are
 * given the whole kernel.
 */
final class KernelBootHeader {

    private static final int SETUP_SECTS = 0x1F1;
    private static final int MAGIC_OFFSET = 0x202;
    /** "HdrS" read as a little-endian int. */
    private static final int MAGIC = 0x53726448;
    private static final int SECTOR = 512;
    /** Zeroes after the setup, so that QEMU is never handed an empty kernel. */
    static final int PAYLOAD_BYTES = 4096;

    private KernelBootHeader() {
    }

    /**
     * Writes {@code kernel}'s setup (boot sector, header and setup sectors) followed by {@link #PAYLOAD_BYTES} zeroes
     * to {@code out}, root's alone; returns false, writing nothing, when {@code kernel} has no bzImage setup header.
     */
    static boolean write(Path kernel, Path out) throws IOException {
        byte[] setup;
        try (InputStream in = Files.newInputStream(kernel)) {
            byte[] first = in.readNBytes(MAGIC_OFFSET + 4);
            if (first.length < MAGIC_OFFSET + 4) {
                return false;
            }
            ByteBuffer header = ByteBuffer.wrap(first).order(ByteOrder.LITTLE_ENDIAN);
            if (header.getInt(MAGIC_OFFSET) != MAGIC) {
                return false;
            }
            int sects = Byte.toUnsignedInt(first[SETUP_SECTS]);
            int setupBytes = ((sects == 0 ? 4 : sects) + 1) * SECTOR;
            byte[] rest = in.readNBytes(setupBytes - first.length);
            if (first.length + rest.length < setupBytes) {
                throw new IOException(kernel + ": shorter (" + (first.length + rest.length) + " bytes) than the "
                        + setupBytes + " bytes of setup its header declares");
            }
            setup = new byte[setupBytes];
            System.arraycopy(first, 0, setup, 0, first.length);
            System.arraycopy(rest, 0, setup, first.length, rest.length);
        }
        Files.deleteIfExists(out);
        try (OutputStream o = Files.newOutputStream(out, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            o.write(setup);
            o.write(new byte[PAYLOAD_BYTES]);
        }
        Files.setPosixFilePermissions(out, PosixFilePermissions.fromString("rw-------"));
        return true;
    }
}
