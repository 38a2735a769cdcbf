package io.javakata.sys;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(20)
class FifosFdsSignalsTest {

    @TempDir
    Path dir;

    @Test
    void fifoCarriesBytesBetweenBothEnds() throws Exception {
        Path fifo = dir.resolve("out");
        Fifos.mkfifo(fifo, 0600);
        assertTrue(Files.readAttributes(fifo, java.nio.file.attribute.BasicFileAttributes.class).isOther(), "a FIFO");
        int readFd = Fds.open(fifo, Fds.O_RDONLY | Fds.O_NONBLOCK | Fds.O_CLOEXEC, 0);
        int writeFd = Fds.open(fifo, Fds.O_WRONLY | Fds.O_NONBLOCK | Fds.O_CLOEXEC, 0);
        try (var out = new FileOutputStream("/proc/self/fd/" + writeFd);
             var in = new FileInputStream("/proc/self/fd/" + readFd)) {
            out.write("hello".getBytes(StandardCharsets.UTF_8));
            out.flush();
            assertEquals("hello", new String(in.readNBytes(5), StandardCharsets.UTF_8));
        } finally {
            Fds.close(readFd);
            Fds.close(writeFd);
        }
    }

    /** More than one native chunk, into a pipe that holds less: partial writes go on where they stopped. */
    @Test
    void writeAllWritesEveryByteInOrderAcrossChunksAndPartialWrites() throws Exception {
        Path fifo = dir.resolve("big");
        Fifos.mkfifo(fifo, 0600);
        byte[] data = new byte[3 * Fds.WRITE_CHUNK + 12345];
        new java.util.Random(7).nextBytes(data);
        var read = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try (FileInputStream in = new FileInputStream(fifo.toFile())) {
                return in.readAllBytes();
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        int fd = Fds.open(fifo, Fds.O_WRONLY | Fds.O_CLOEXEC, 0);
        try {
            Fds.writeAll(fd, data, 5, data.length - 5);
        } finally {
            Fds.close(fd);
        }
        assertTrue(java.util.Arrays.equals(java.util.Arrays.copyOfRange(data, 5, data.length),
                read.get(10, java.util.concurrent.TimeUnit.SECONDS)), "the reader got every byte, in order");
    }

    @Test
    void mkfifoOnExistingPathIsEexist() throws Exception {
        Path fifo = dir.resolve("twice");
        Fifos.mkfifo(fifo, 0600);
        ErrnoException e = assertThrows(ErrnoException.class, () -> Fifos.mkfifo(fifo, 0600));
        assertEquals(17, e.errno());
        assertTrue(e.getMessage().startsWith("mkfifo(" + fifo + ", 0600) failed: errno 17 EEXIST ("), e.getMessage());
    }

    @Test
    void dup2MakesANewDescriptorForTheSameFile() throws Exception {
        Path file = dir.resolve("target");
        int fd = Fds.open(file, Fds.O_WRONLY | Fds.O_CREAT | Fds.O_CLOEXEC, 0600);
        int copy = 987;
        try {
            Fds.dup2(fd, copy);
            assertEquals(file.toRealPath(), Files.readSymbolicLink(Path.of("/proc/self/fd/" + copy)));
        } finally {
            Fds.close(copy);
            Fds.close(fd);
        }
        assertTrue(Files.notExists(Path.of("/proc/self/fd/" + copy)));
    }

    @Test
    void aMemfdIsAFileReachableThroughProcUntilClosed() throws Exception {
        int fd = Fds.memfd("javakata-test");
        Path path = Path.of("/proc/" + ProcessHandle.current().pid() + "/fd/" + fd);
        try {
            assertTrue(Files.readSymbolicLink(path).toString().startsWith("/memfd:javakata-test"),
                    Files.readSymbolicLink(path).toString());
            Files.writeString(path, "guest RAM");
            try (var channel = java.nio.channels.FileChannel.open(path, java.nio.file.StandardOpenOption.WRITE)) {
                channel.position((1 << 20) - 1).write(java.nio.ByteBuffer.wrap(new byte[] {7}));
            }
            assertEquals(1 << 20, Files.size(path));
            assertTrue(Files.readString(path.resolveSibling(String.valueOf(fd))).startsWith("guest RAM"),
                    "a second open reaches the same file");
        } finally {
            Fds.close(fd);
        }
        assertTrue(Files.notExists(path, java.nio.file.LinkOption.NOFOLLOW_LINKS));
    }

    @Test
    void openOfMissingFileIsEnoent() {
        ErrnoException e = assertThrows(ErrnoException.class,
                () -> Fds.open(dir.resolve("none"), Fds.O_RDONLY, 0));
        assertEquals(2, e.errno());
    }

    @Test
    void signalZeroProbesProcesses() throws Exception {
        Signals.kill(Processes.pid(), 0);
        ErrnoException e = assertThrows(ErrnoException.class, () -> Signals.kill(Integer.MAX_VALUE, 0));
        assertEquals(3, e.errno());
        assertTrue(e.getMessage().contains("ESRCH"), e.getMessage());
    }
}
