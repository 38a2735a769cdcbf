package io.javakata.shim.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.javakata.ttrpc.RuntimeStatusException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(value = 10, unit = TimeUnit.SECONDS)
class HostCgroupTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path root;
    @TempDir
    Path tmp;

    @Test
    void pathComesFromTheSpecsCgroupsPath() throws Exception {
        assertEquals(Optional.of("/k8s.io/abc"), HostCgroup.pathOf(JSON.readTree("{\"linux\":{\"cgroupsPath\":\"/k8s.io//abc/\"}}")));
        assertEquals(Optional.empty(), HostCgroup.pathOf(JSON.readTree("{\"linux\":{}}")));
        assertEquals(Optional.empty(), HostCgroup.pathOf(null));
        assertEquals(Optional.empty(), HostCgroup.pathOf(JSON.readTree("{\"linux\":{\"cgroupsPath\":\"system.slice:cri:abc\"}}")));
        RuntimeStatusException e = assertThrows(RuntimeStatusException.class,
                () -> HostCgroup.pathOf(JSON.readTree("{\"linux\":{\"cgroupsPath\":\"/k8s.io/../etc\"}}")));
        assertTrue(e.getMessage().contains("linux.cgroupsPath=/k8s.io/../etc"), e.getMessage());
    }

    @Test
    void v1CreatesTheCgroupInEveryHierarchyAndFillsCpusets() throws Exception {
        hierarchy("cpu");
        hierarchy("memory");
        Path cpuset = hierarchy("cpuset");
        Files.writeString(cpuset.resolve("cpuset.cpus"), "0-1\n");
        Files.writeString(cpuset.resolve("cpuset.mems"), "0\n");
        Files.createSymbolicLink(root.resolve("cpuacct"), root.resolve("cpu"));
        Files.writeString(root.resolve("not-a-hierarchy"), "");
        // A real cpuset cgroup is born with empty cpus/mems; simulate the kernel by pre-creating the level.
        assertEquals(List.of(root.resolve("cpu"), root.resolve("cpuset"), root.resolve("memory")), HostCgroup.hierarchies(root));

        HostCgroup cgroup = HostCgroup.create(root, "/pods/sb1");

        assertEquals(List.of(root.resolve("cpu/pods/sb1"), root.resolve("cpuset/pods/sb1"), root.resolve("memory/pods/sb1")),
                cgroup.dirs());
        assertFalse(Files.exists(root.resolve("cpuset/pods/sb1/cpuset.cpus")),
                "a plain directory has no cpuset files to fill: nothing is invented");
        cgroup.remove();
        for (Path dir : cgroup.dirs()) {
            assertFalse(Files.exists(dir), dir + " removed");
            assertTrue(Files.isDirectory(dir.getParent()), "the parent level stays: " + dir.getParent());
        }
    }

    @Test
    void v2UsesTheSingleTree() throws Exception {
        Files.writeString(root.resolve("cgroup.controllers"), "cpuset cpu io memory pids\n");
        Files.writeString(root.resolve("cgroup.subtree_control"), "");
        Files.writeString(root.resolve("cgroup.procs"), "");
        assertEquals(List.of(root), HostCgroup.hierarchies(root));
        HostCgroup cgroup = HostCgroup.create(root, "/kubepods/pod1/sb1");
        assertEquals(List.of(root.resolve("kubepods/pod1/sb1")), cgroup.dirs());
        assertTrue(Files.isDirectory(root.resolve("kubepods/pod1/sb1")));
        // the root offered controllers to its children (the fake file keeps the last write)
        assertTrue(Files.readString(root.resolve("cgroup.subtree_control")).startsWith("+"));
        cgroup.remove();
        assertFalse(Files.exists(root.resolve("kubepods/pod1/sb1")));
    }

    @Test
    void killAndRemoveLeftoverFindsThePathInEveryHierarchy() throws Exception {
        hierarchy("cpu");
        hierarchy("pids");
        Files.createDirectories(root.resolve("cpu/p/sb"));
        HostCgroup.killAndRemoveLeftover(root, "/p/sb");
        HostCgroup.killAndRemoveLeftover(root, "/p/absent");
        assertFalse(Files.exists(root.resolve("cpu/p/sb")));
        assertTrue(Files.isDirectory(root.resolve("cpu/p")));
    }

    /** The host's real cgroups: every process a VM process forked goes with the group, from the path alone. */
    @Test
    void killAndRemoveLeftoverEndsEveryProcessInTheRealCgroup() throws Exception {
        String path = "/javakata-test-" + java.util.UUID.randomUUID();
        HostCgroup cgroup = HostCgroup.create(HostCgroup.ROOT, path);
        try {
            Process shell = io.javakata.hypervisor.HostSpawner.start(List.of("/bin/sh", "-c", "sleep 600 & exec sleep 601"),
                    cgroup.dirs(), tmp.resolve("log"));
            ProcessHandle handle = shell.toHandle();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (handle.descendants().findAny().isEmpty() && System.nanoTime() < deadline) {
                shell.waitFor(10, TimeUnit.MILLISECONDS);
            }
            List<ProcessHandle> all = new java.util.ArrayList<>(handle.descendants().toList());
            all.add(handle);
            assertEquals(2, all.size(), all::toString);

            HostCgroup.killAndRemoveLeftover(HostCgroup.ROOT, path);

            for (ProcessHandle process : all) {
                assertTrue(io.javakata.hypervisor.ChildProcesses.awaitExit(process, java.time.Duration.ofSeconds(5)),
                        "pid " + process.pid() + " survived");
            }
            for (Path dir : cgroup.dirs()) {
                assertFalse(Files.exists(dir), dir + " removed");
            }
        } finally {
            cgroup.killAndRemove();
        }
    }

    private Path hierarchy(String name) throws IOException {
        Path dir = Files.createDirectories(root.resolve(name));
        Files.writeString(dir.resolve("cgroup.procs"), "");
        return dir;
    }
}
