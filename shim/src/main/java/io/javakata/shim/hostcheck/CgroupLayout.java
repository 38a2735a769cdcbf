package io.javakata.shim.hostcheck;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * How the host's cgroup hierarchies are mounted under {@code /sys/fs/cgroup}, from {@code /proc/self/mountinfo}
 * (proc(5), /proc/pid/mountinfo: fields up to a lone "-", then the file system type, the source and the super
 * options). The shim places QEMU and virtiofsd in the pod's cgroup in every hierarchy it finds
 * (io.javakata.shim.sandbox.HostCgroup).
 *
 * @param unifiedAtRoot  cgroup v2 is mounted at /sys/fs/cgroup itself (a pure v2 host)
 * @param unifiedMount   where cgroup v2 is mounted, if anywhere under /sys/fs/cgroup
 * @param v1Controllers  the controllers of the v1 hierarchies mounted under /sys/fs/cgroup, in mount order
 */
record CgroupLayout(boolean unifiedAtRoot, Optional<String> unifiedMount, List<String> v1Controllers) {

    static final String ROOT = "/sys/fs/cgroup";
    /** The v1 controllers (Documentation/admin-guide/cgroup-v1); other super options are flags. */
    private static final java.util.Set<String> V1_CONTROLLERS = java.util.Set.of("cpu", "cpuacct", "cpuset",
            "memory", "devices", "freezer", "net_cls", "blkio", "perf_event", "net_prio", "hugetlb", "pids", "rdma",
            "misc");

    static CgroupLayout parse(String mountinfo) {
        Optional<String> unified = Optional.empty();
        List<String> controllers = new ArrayList<>();
        for (String line : mountinfo.split("\n")) {
            String[] fields = line.split(" ");
            int dash = List.of(fields).indexOf("-");
            if (dash < 5 || dash + 3 >= fields.length) {
                continue;
            }
            String mountPoint = fields[4];
            String type = fields[dash + 1];
            if (!mountPoint.equals(ROOT) && !mountPoint.startsWith(ROOT + "/")) {
                continue;
            }
            if (type.equals("cgroup2")) {
                unified = Optional.of(mountPoint);
            } else if (type.equals("cgroup")) {
                for (String option : fields[dash + 3].split(",")) {
                    if (V1_CONTROLLERS.contains(option)) {
                        controllers.add(option);
                    }
                }
            }
        }
        return new CgroupLayout(unified.filter(ROOT::equals).isPresent(), unified, List.copyOf(controllers));
    }

    Finding finding() {
        if (unifiedAtRoot) {
            return Finding.ok("cgroup", "cgroup v2 (unified) at " + ROOT
                    + ": QEMU and virtiofsd join the pod's cgroup, so CRI's pod stats count the VM");
        }
        boolean cpu = v1Controllers.contains("cpu") || v1Controllers.contains("cpuacct");
        boolean memory = v1Controllers.contains("memory");
        String layout = (unifiedMount.isPresent() ? "hybrid: cgroup v2 at " + unifiedMount.get() + " and " : "")
                + "cgroup v1 hierarchies " + String.join(", ", v1Controllers);
        if (v1Controllers.isEmpty() && unifiedMount.isEmpty()) {
            return Finding.warn("cgroup", "no cgroup hierarchy under " + ROOT
                    + ": the VM stays in the shim's cgroup and CRI's pod stats do not count it");
        }
        if (!cpu || !memory) {
            return Finding.warn("cgroup", layout + ": no cpu or memory hierarchy, so CRI's pod stats miss the "
                    + "VM's CPU or memory");
        }
        return Finding.ok("cgroup", layout + ": QEMU and virtiofsd join the pod's cgroup in each (the guest uses "
                + "cgroup v2 inside either way)");
    }
}
