package io.javakata.hypervisor.qemu;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Hands out vsock context ids that no other VM on this host holds. A CID is taken by creating
 * {@code <dir>/<cid>} holding the owner's pid and the VM id, under an exclusive lock on
 * {@code <dir>/.lock} so that shims on the same host do not race. A file whose owner process is
 * gone is stale and is taken over. CIDs 0-2 are reserved (hypervisor, local, host).
 */
final class VsockCids {

    static final long FIRST_CID = 3;
    /** How many CIDs the hash spreads over; far more than VMs on one host. */
    static final long RANGE = 1L << 20;

    private VsockCids() {
    }

    /** Takes a free CID, starting from one derived from {@code vmId} so a VM tends to keep the same. */
    static long allocate(Path dir, String vmId) throws IOException {
        Files.createDirectories(dir);
        try (FileChannel lockFile = FileChannel.open(dir.resolve(".lock"), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE); FileLock _ = lockFile.lock()) {
            long start = Math.floorMod(vmId.hashCode(), RANGE);
            for (long i = 0; i < RANGE; i++) {
                long cid = FIRST_CID + Math.floorMod(start + i, RANGE);
                Path file = dir.resolve(Long.toString(cid));
                if (Files.exists(file) && ownerAlive(file)) {
                    continue;
                }
                Files.writeString(file, ProcessHandle.current().pid() + " " + vmId + "\n", StandardCharsets.UTF_8);
                return cid;
            }
        }
        throw new IOException("no free vsock cid in " + dir);
    }

    /** Gives a CID back; a missing file is fine. */
    static void release(Path dir, long cid) {
        io.javakata.hypervisor.ChildProcesses.deleteQuietly(dir.resolve(Long.toString(cid)));
    }

    private static boolean ownerAlive(Path file) throws IOException {
        try {
            String[] words = Files.readString(file, StandardCharsets.UTF_8).strip().split("\\s+", 2);
            return ProcessHandle.of(Long.parseLong(words[0])).map(ProcessHandle::isAlive).orElse(false);
        } catch (NoSuchFileException e) {
            return false;
        } catch (NumberFormatException e) {
            return false;
        }
    }
}
