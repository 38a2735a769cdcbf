package io.javakata.shim.hostcheck;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The effective capabilities of a process, from the {@code CapEff} line of {@code /proc/<pid>/status} (a hex mask
 * whose bit numbers are linux/capability.h's {@code CAP_*} constants: proc(5), capabilities(7)), and the ones the
 * shim needs.
 *
 * @param mask the CapEff bits
 */
record Capabilities(long mask) {

    /** What each capability is for in javakata; the shim cannot run pods without any of them. */
    static final Map<String, String> REQUIRED = orderedMap(
            "cap_sys_admin", "mounts, network namespaces, virtiofsd's sandbox",
            "cap_net_admin", "the pod's tap and tc mirrors",
            "cap_setuid", "QEMU -runas, virtiofsd serving the guest's users",
            "cap_setgid", "QEMU -runas, virtiofsd serving the guest's users",
            "cap_chown", "virtiofsd",
            "cap_dac_override", "virtiofsd",
            "cap_fowner", "virtiofsd",
            "cap_fsetid", "virtiofsd",
            "cap_kill", "signalling QEMU after it dropped root");

    /** Missing it costs a workaround, not the pod: containerd's CRI adjusts oom_score_adj. */
    static final String SYS_RESOURCE = "cap_sys_resource";

    private static final List<String> NAMES = List.of("cap_chown", "cap_dac_override", "cap_dac_read_search",
            "cap_fowner", "cap_fsetid", "cap_kill", "cap_setgid", "cap_setuid", "cap_setpcap", "cap_linux_immutable",
            "cap_net_bind_service", "cap_net_broadcast", "cap_net_admin", "cap_net_raw", "cap_ipc_lock",
            "cap_ipc_owner", "cap_sys_module", "cap_sys_rawio", "cap_sys_chroot", "cap_sys_ptrace", "cap_sys_pacct",
            "cap_sys_admin", "cap_sys_boot", "cap_sys_nice", "cap_sys_resource", "cap_sys_time",
            "cap_sys_tty_config", "cap_mknod", "cap_lease", "cap_audit_write", "cap_audit_control", "cap_setfcap",
            "cap_mac_override", "cap_mac_admin", "cap_syslog", "cap_wake_alarm", "cap_block_suspend",
            "cap_audit_read", "cap_perfmon", "cap_bpf", "cap_checkpoint_restore");

    /** The CapEff of a {@code /proc/<pid>/status} text; empty if it has none or it is malformed. */
    static Optional<Capabilities> fromStatus(String status) {
        for (String line : status.split("\n")) {
            if (line.startsWith("CapEff:")) {
                try {
                    return Optional.of(new Capabilities(Long.parseUnsignedLong(line.substring(7).strip(), 16)));
                } catch (NumberFormatException e) {
                    return Optional.empty();
                }
            }
        }
        return Optional.empty();
    }

    boolean has(String name) {
        int bit = NAMES.indexOf(name.toLowerCase(Locale.ROOT));
        if (bit < 0) {
            throw new IllegalArgumentException("unknown capability " + name);
        }
        return (mask & (1L << bit)) != 0;
    }

    /** The required capabilities this mask lacks, in {@link #REQUIRED}'s order. */
    List<String> missingRequired() {
        List<String> missing = new ArrayList<>();
        REQUIRED.keySet().forEach(name -> {
            if (!has(name)) {
                missing.add(name);
            }
        });
        return missing;
    }

    private static Map<String, String> orderedMap(String... pairs) {
        var map = new java.util.LinkedHashMap<String, String>();
        for (int i = 0; i < pairs.length; i += 2) {
            map.put(pairs[i], pairs[i + 1]);
        }
        return java.util.Collections.unmodifiableMap(map);
    }
}
