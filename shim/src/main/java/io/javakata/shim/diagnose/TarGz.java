package io.javakata.shim.diagnose;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.zip.GZIPOutputStream;

/**
 * Writes a gzip-compressed ustar archive of regular files, what {@code tar -xzf} reads (POSIX {@code pax}, "ustar
 * Interchange Format": 512-byte headers with octal fields and a checksum, contents padded to 512 bytes, two zero
 * blocks at the end).
 * Names up to 255 bytes (split at a '/' into the prefix and name fields). Not thread-safe; close() finishes the
 * archive and closes the stream.
 */
final class TarGz implements AutoCloseable {

    private static final int BLOCK = 512;

    private final GZIPOutputStream out;
    private final long mtime;

    TarGz(OutputStream out, Instant mtime) throws IOException {
        this.out = new GZIPOutputStream(out);
        this.mtime = mtime.getEpochSecond();
    }

    /** Adds a regular file, mode 0644, owned by root. */
    void add(String name, byte[] content) throws IOException {
        out.write(header(name, content.length));
        out.write(content);
        int pad = (BLOCK - content.length % BLOCK) % BLOCK;
        out.write(new byte[pad]);
    }

    private byte[] header(String name, long size) {
        byte[] h = new byte[BLOCK];
        byte[] full = name.getBytes(StandardCharsets.UTF_8);
        String prefix = "";
        String base = name;
        if (full.length > 100) {
            int slash = name.lastIndexOf('/', Math.min(name.length() - 1, 155));
            if (slash <= 0 || name.substring(slash + 1).getBytes(StandardCharsets.UTF_8).length > 100) {
                throw new IllegalArgumentException("tar entry name too long for ustar: " + name);
            }
            prefix = name.substring(0, slash);
            base = name.substring(slash + 1);
        }
        put(h, 0, 100, base.getBytes(StandardCharsets.UTF_8));
        octal(h, 100, 8, 0644);
        octal(h, 108, 8, 0);
        octal(h, 116, 8, 0);
        octal(h, 124, 12, size);
        octal(h, 136, 12, mtime);
        java.util.Arrays.fill(h, 148, 156, (byte) ' ');
        h[156] = '0';
        put(h, 257, 6, "ustar\0".getBytes(StandardCharsets.US_ASCII));
        put(h, 263, 2, "00".getBytes(StandardCharsets.US_ASCII));
        put(h, 265, 32, "root".getBytes(StandardCharsets.US_ASCII));
        put(h, 297, 32, "root".getBytes(StandardCharsets.US_ASCII));
        put(h, 345, 155, prefix.getBytes(StandardCharsets.UTF_8));
        long sum = 0;
        for (byte b : h) {
            sum += b & 0xff;
        }
        byte[] checksum = String.format("%06o\0 ", sum).getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(checksum, 0, h, 148, 8);
        return h;
    }

    private static void put(byte[] h, int offset, int length, byte[] value) {
        if (value.length > length) {
            throw new IllegalArgumentException("tar header field of " + length + " bytes: " + value.length + " given");
        }
        System.arraycopy(value, 0, h, offset, value.length);
    }

    /** An octal number, zero-padded, NUL-terminated, filling the field. */
    private static void octal(byte[] h, int offset, int length, long value) {
        String digits = Long.toOctalString(value);
        if (digits.length() > length - 1) {
            throw new IllegalArgumentException("value " + value + " does not fit a " + length + "-byte tar field");
        }
        put(h, offset, length, ("0".repeat(length - 1 - digits.length()) + digits + "\0")
                .getBytes(StandardCharsets.US_ASCII));
    }

    @Override
    public void close() throws IOException {
        out.write(new byte[2 * BLOCK]);
        out.close();
    }
}
