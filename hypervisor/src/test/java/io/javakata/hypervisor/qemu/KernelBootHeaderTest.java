package io.javakata.hypervisor.qemu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A clone's kernel: the template kernel's setup sectors, without the kernel behind them. The guest's real kernel goes
 * through it in every IT that restores a pod from a VM template (TemplateIT, NetworkIT, FaultMatrixIT).
 */
class KernelBootHeaderTest {

    @TempDir
    Path tmp;

    /** A bzImage-like file: random bytes with the "HdrS" magic and {@code sects} setup sectors. */
    private Path bzImage(int sects, int size) throws IOException {
        byte[] bytes = new byte[size];
        new Random(sects).nextBytes(bytes);
        bytes[0x1F1] = (byte) sects;
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putInt(0x202, 0x53726448);
        Path kernel = tmp.resolve("vmlinuz-" + sects);
        Files.write(kernel, bytes);
        return kernel;
    }

    @Test
    void theHeaderIsTheBootSectorAndSetupSectorsThenZeroes() throws IOException {
        Path kernel = bzImage(30, 1 << 20);
        Path out = tmp.resolve("kernel-header");
        assertTrue(KernelBootHeader.write(kernel, out));
        byte[] header = Files.readAllBytes(out);
        int setup = 31 * 512;
        assertEquals(setup + KernelBootHeader.PAYLOAD_BYTES, header.length);
        assertArrayEquals(Arrays.copyOf(Files.readAllBytes(kernel), setup), Arrays.copyOf(header, setup));
        assertArrayEquals(new byte[KernelBootHeader.PAYLOAD_BYTES], Arrays.copyOfRange(header, setup, header.length));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(out)));
    }

    @Test
    void zeroSetupSectorsMeanFour() throws IOException {
        Path out = tmp.resolve("kernel-header");
        assertTrue(KernelBootHeader.write(bzImage(0, 1 << 16), out));
        assertEquals(5 * 512 + KernelBootHeader.PAYLOAD_BYTES, Files.size(out));
    }

    @Test
    void aKernelWithoutTheMagicGetsNoHeader() throws IOException {
        Path elf = tmp.resolve("vmlinux");
        byte[] bytes = new byte[1 << 16];
        bytes[0] = 0x7F;
        bytes[1] = 'E';
        Files.write(elf, bytes);
        Path out = tmp.resolve("kernel-header");
        assertFalse(KernelBootHeader.write(elf, out));
        assertFalse(Files.exists(out));
        Files.write(elf, new byte[16]); // shorter than a header
        assertFalse(KernelBootHeader.write(elf, out));
    }

    @Test
    void aKernelShorterThanItsSetupIsRefusedNamingIt() throws IOException {
        Path kernel = bzImage(60, 4096);
        var e = assertThrows(IOException.class, () -> KernelBootHeader.write(kernel, tmp.resolve("kernel-header")));
        assertTrue(e.getMessage().startsWith(kernel + ": shorter (4096 bytes) than the 31232 bytes"), e.getMessage());
    }
}
