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
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(value = 10, unit = TimeUnit.SECONDS)
class HostCgroupTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path root;

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
    void placeWritesEachPidToEveryHierarchyButNeverTheShimItself() throws Exception {
        hierarchy("cpu");
        hierarchy("memory");
        HostCgroup cgroup = HostCgroup.create(root, "/p/sb");
        Process sleeper = new ProcessBuilder("sleep", "30").start();
        try {
            cgroup.place(Set.of(sleeper.pid(), ProcessHandle.current().pid()));
            for (Path dir : cgroup.dirs()) {
                assertEquals(Long.toString(sleeper.pid()), Files.readString(dir.resolve("cgroup.procs")));
            }
        } finally {
            sleeper.destroyForcibly().waitFor();
        }
    }

    @Test
    void removeLeftoverFindsThePathInEveryHierarchy() throws Exception {
        hierarchy("cpu");
        hierarchy("pids");
        Files.createDirectories(root.resolve("cpu/p/sb"));
        HostCgroup.removeLeftover(root, "/p/sb");
        HostCgroup.removeLeftover(root, "/p/absent");
        assertFalse(Files.exists(root.resolve("cpu/p/sb")));
        assertTrue(Files.isDirectory(root.resolve("cpu/p")));
    }

    @Test
    void withDescendantsCoversChildren() throws Exception {
        Process shell = new ProcessBuilder("sh", "-c", "sleep 30 & wait").start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            Set<Long> pids;
            do {
                pids = HostCgroup.withDescendants(List.of(shell.pid(), 999_999_999L));
            } while (pids.size() < 2 && System.nanoTime() < deadline);
            assertEquals(2, pids.size(), pids::toString);
            assertTrue(pids.contains(shell.pid()));
        } finally {
            shell.descendants().forEach(ProcessHandle::destroyForcibly);
            shell.destroyForcibly().waitFor();
        }
    }

    private Path hierarchy(String name) throws IOException {
        Path dir = Files.createDirectories(root.resolve(name));
        Files.writeString(dir.resolve("cgroup.procs"), "");
        return dir;
    }
}
