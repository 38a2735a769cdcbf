package io.javakata.guest.cgroup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Parsing of cgroup v2 interface files, with their text as the kernel writes it. */
@Timeout(10)
class CgroupTest {

    @TempDir
    Path dir;

    @Test
    void readsKeyedSingleAndIoFiles() throws Exception {
        Files.writeString(dir.resolve("memory.events"), "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\n");
        Files.writeString(dir.resolve("memory.current"), "1048576\n");
        Files.writeString(dir.resolve("memory.max"), "max\n");
        Files.writeString(dir.resolve("io.stat"),
                "254:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n");
        Files.writeString(dir.resolve("cgroup.procs"), "7\n12\n");
        Cgroup cgroup = new Cgroup(dir);
        assertEquals(1, cgroup.oomKills());
        assertEquals(OptionalLong.of(1048576), cgroup.single("memory.current"));
        assertEquals(OptionalLong.empty(), cgroup.single("memory.max"), "max is no limit");
        assertEquals(OptionalLong.empty(), cgroup.single("pids.max"), "a missing controller");
        assertEquals(List.of(new Cgroup.IoEntry(254, 0, 4096, 8192, 1, 2)), cgroup.ioStat());
        assertEquals(List.of(7, 12), cgroup.pids());
    }

    @Test
    void findsTheCgroupOfAPidFromProc() throws Exception {
        Path proc = dir.resolve("proc");
        Files.createDirectories(proc.resolve("42"));
        Files.writeString(proc.resolve("42/cgroup"), "0::/default/c1\n");
        Path mount = dir.resolve("cg");
        assertEquals(mount.resolve("default/c1"), Cgroup.ofPid(proc, mount, 42).dir());
        Files.writeString(proc.resolve("42/cgroup"), "0::/\n");
        assertEquals(mount, Cgroup.ofPid(proc, mount, 42).dir());
        Files.writeString(proc.resolve("42/cgroup"), "1:name=systemd:/x\n");
        assertTrue(org.junit.jupiter.api.Assertions.assertThrows(java.io.IOException.class,
                () -> Cgroup.ofPid(proc, mount, 42)).getMessage().contains("no cgroup v2 line"));
    }

    @Test
    void killAllWritesCgroupKillWhereTheKernelHasIt() throws Exception {
        Files.writeString(dir.resolve("cgroup.kill"), "");
        Files.writeString(dir.resolve("cgroup.procs"), "");
        assertEquals(List.of(), new Cgroup(dir).killAll());
        assertEquals("1", Files.readString(dir.resolve("cgroup.kill")));
    }

    @Test
    void killAllWithoutCgroupKillSignalsEveryPidHereAndBelow() throws Exception {
        Process top = new ProcessBuilder("sleep", "60").start();
        Process nested = new ProcessBuilder("sleep", "60").start();
        try {
            Files.writeString(dir.resolve("cgroup.procs"), top.pid() + "\n");
            Files.createDirectories(dir.resolve("child"));
            Files.writeString(dir.resolve("child/cgroup.procs"), nested.pid() + "\n");
            List<Integer> signalled = new Cgroup(dir).killAll();
            assertEquals(java.util.stream.Stream.of((int) top.pid(), (int) nested.pid()).sorted().toList(),
                    signalled.stream().sorted().toList());
            assertTrue(top.waitFor(5, TimeUnit.SECONDS) && nested.waitFor(5, TimeUnit.SECONDS));
            assertEquals(128 + 9, top.exitValue(), "SIGKILL");
            assertEquals(128 + 9, nested.exitValue(), "SIGKILL");
        } finally {
            top.destroyForcibly();
            nested.destroyForcibly();
        }
    }
}
