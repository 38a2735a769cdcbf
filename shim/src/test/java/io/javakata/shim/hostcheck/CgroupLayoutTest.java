package io.javakata.shim.hostcheck;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(5)
class CgroupLayoutTest {

    /** This machine's /proc/self/mountinfo, cut to the cgroup lines and one other. */
    static final String HYBRID = """
            22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
            30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
            31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
            32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
            34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
            38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
            39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
            40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
            """;

    @Test
    void hybridListsTheV1ControllersAndTheUnifiedMount() {
        CgroupLayout layout = CgroupLayout.parse(HYBRID);
        assertEquals(new CgroupLayout(false, Optional.of("/sys/fs/cgroup/unified"),
                List.of("cpu", "cpuacct", "memory", "pids")), layout);
        Finding f = layout.finding();
        assertEquals(Verdict.OK, f.verdict());
        assertTrue(f.detail().startsWith("hybrid: cgroup v2 at /sys/fs/cgroup/unified and cgroup v1 hierarchies cpu, "
                + "cpuacct, memory, pids"), f.detail());
    }

    @Test
    void pureV2IsUnifiedAtTheRoot() {
        CgroupLayout layout = CgroupLayout.parse(
                "27 22 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n");
        assertTrue(layout.unifiedAtRoot());
        assertEquals(Verdict.OK, layout.finding().verdict());
        assertTrue(layout.finding().detail().startsWith("cgroup v2 (unified) at /sys/fs/cgroup"));
    }

    @Test
    void v1WithoutMemoryOrNoCgroupAtAllWarns() {
        Finding noMemory = CgroupLayout.parse("31 30 0:28 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n").finding();
        assertEquals(Verdict.WARN, noMemory.verdict());
        assertTrue(noMemory.detail().contains("no cpu or memory hierarchy"), noMemory.detail());
        Finding none = CgroupLayout.parse("22 1 0:21 / /sys rw - sysfs sysfs rw\n").finding();
        assertEquals(Verdict.WARN, none.verdict());
        assertTrue(none.detail().startsWith("no cgroup hierarchy under /sys/fs/cgroup"), none.detail());
    }
}
