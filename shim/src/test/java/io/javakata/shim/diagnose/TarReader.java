package io.javakata.shim.diagnose;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.GZIPInputStream;

/** Reads a .tar.gz of regular files back, checking each header's checksum: the tests' independent reader. */
final class TarReader {

    private TarReader() {
    }

    static Map<String, String> read(Path archive) throws IOException {
        Map<String, String> files = new LinkedHashMap<>();
        try (InputStream in = new GZIPInputStream(Files.newInputStream(archive))) {
            byte[] all = in.readAllBytes();
            int at = 0;
            while (at + 512 <= all.length) {
                byte[] h = java.util.Arrays.copyOfRange(all, at, at + 512);
                if (java.util.Arrays.equals(h, new byte[512])) {
                    break;
                }
                long sum = 0;
                for (int i = 0; i < 512; i++) {
                    sum += (i >= 148 && i < 156) ? ' ' : h[i] & 0xff;
                }
                if (sum != Long.parseLong(field(h, 148, 8), 8)) {
                    throw new IOException("bad checksum at " + at);
                }
                String prefix = field(h, 345, 155);
                String name = (prefix.isEmpty() ? "" : prefix + "/") + field(h, 0, 100);
                int size = (int) Long.parseLong(field(h, 124, 12), 8);
                files.put(name, new String(all, at + 512, size, StandardCharsets.UTF_8));
                at += 512 + (size + 511) / 512 * 512;
            }
        }
        return files;
    }

    private static String field(byte[] h, int offset, int length) {
        var out = new ByteArrayOutputStream();
        for (int i = offset; i < offset + length && h[i] != 0; i++) {
            out.write(h[i]);
        }
        return out.toString(StandardCharsets.UTF_8).strip();
    }
}
