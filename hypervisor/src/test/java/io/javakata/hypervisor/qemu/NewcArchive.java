package io.javakata.hypervisor.qemu;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes a cpio archive in the "newc" format the kernel unpacks as an initramfs
 * (Documentation/driver-api/early-userspace/buffer-format.rst): a 110-byte ASCII header of
 * "070701" and thirteen 8-digit hex fields, the NUL-terminated name, padding to 4 bytes, the data,
 * padding to 4 bytes; ending with an entry named "TRAILER!!!".
 */
final class NewcArchive {

    private static final int S_IFDIR = 0040000;
    private static final int S_IFREG = 0100000;
    private static final int S_IFLNK = 0120000;
    private static final int S_IFCHR = 0020000;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private int nextInode = 1;

    NewcArchive directory(String name) {
        entry(name, S_IFDIR | 0755, new byte[0], 0, 0);
        return this;
    }

    NewcArchive file(String name, int permissions, byte[] data) {
        entry(name, S_IFREG | permissions, data, 0, 0);
        return this;
    }

    NewcArchive symlink(String name, String target) {
        entry(name, S_IFLNK | 0777, target.getBytes(StandardCharsets.UTF_8), 0, 0);
        return this;
    }

    NewcArchive charDevice(String name, int permissions, int major, int minor) {
        entry(name, S_IFCHR | permissions, new byte[0], major, minor);
        return this;
    }

    void writeTo(Path file) throws IOException {
        entry("TRAILER!!!", 0, new byte[0], 0, 0);
        Files.write(file, out.toByteArray());
    }

    private void entry(String name, int mode, byte[] data, int rdevMajor, int rdevMinor) {
        byte[] nameBytes = (name + "\0").getBytes(StandardCharsets.UTF_8);
        boolean trailer = name.equals("TRAILER!!!");
        int[] fields = {trailer ? 0 : nextInode++, mode, 0, 0, (mode & S_IFDIR) == S_IFDIR ? 2 : 1, 0, data.length,
            0, 0, rdevMajor, rdevMinor, nameBytes.length, 0};
        StringBuilder header = new StringBuilder("070701");
        for (int field : fields) {
            header.append(String.format("%08x", field));
        }
        out.writeBytes(header.toString().getBytes(StandardCharsets.US_ASCII));
        out.writeBytes(nameBytes);
        pad();
        out.writeBytes(data);
        pad();
    }

    private void pad() {
        while (out.size() % 4 != 0) {
            out.write(0);
        }
    }
}
