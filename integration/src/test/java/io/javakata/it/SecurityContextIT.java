package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.javakata.it.cri.v1.Capability;
import io.javakata.it.cri.v1.ContainerConfig;
import io.javakata.it.cri.v1.Int64Value;
import io.javakata.it.cri.v1.KeyValue;
import io.javakata.it.cri.v1.PodSandboxConfig;
import io.javakata.it.cri.v1.SecurityProfile;

/**
 * Issue 3 item 9: container settings as runc applies them. The same containers run in a javakata pod and in a
 * runc pod, each prints a report of its process (env, working dir, ids, groups, capabilities, no_new_privs,
 * seccomp, read-only rootfs, sysctls), and the reports must be equal, and as specified.
 */
@Tag("containerd")
@Tag("qemu")
@Tag("cri")
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class SecurityContextIT {

    private static final String REPORT = String.join("; ",
            "echo \"env=$GREETING\"", "echo \"pwd=$(pwd)\"", "echo \"id=$(id -u):$(id -g)\"", "echo \"groups=$(id -G)\"",
            "grep -E '^(CapEff|CapBnd|CapPrm|NoNewPrivs|Seccomp):' /proc/self/status",
            "if touch /rootfs-write 2>/dev/null; then echo rootfs=rw; else echo rootfs=ro; fi",
            "echo \"shm_rmid_forced=$(cat /proc/sys/kernel/shm_rmid_forced)\"",
            "echo \"ping_group_range=$(cat /proc/sys/net/ipv4/ping_group_range)\"",
            "echo end-of-report", "sleep 3600");

    /** {@code key=value} from echo, {@code Key:<tab>value} from /proc/self/status. */
    private static final Pattern ENTRY = Pattern.compile("([A-Za-z_]+)[=:]\\s*(.*)");

    @RegisterExtension
    static final PrivateCri CRI = new PrivateCri();

    private static Pod vm;
    private static Pod runc;
    private static final Map<String, UnaryOperator<ContainerConfig.Builder>> CONTAINERS = new LinkedHashMap<>();

    static {
        CONTAINERS.put("defaults", b -> {
            b.addEnvs(KeyValue.newBuilder().setKey("GREETING").setValue("hello world")).setWorkingDir("/tmp");
            b.getLinuxBuilder().getSecurityContextBuilder()
                    .setSeccomp(SecurityProfile.newBuilder().setProfileType(SecurityProfile.ProfileType.RuntimeDefault));
            return b;
        });
        CONTAINERS.put("restricted", b -> {
            b.getLinuxBuilder().getSecurityContextBuilder()
                    .setRunAsUser(Int64Value.newBuilder().setValue(1000))
                    .setRunAsGroup(Int64Value.newBuilder().setValue(2000))
                    .addAllSupplementalGroups(List.of(3000L, 4000L))
                    .setCapabilities(Capability.newBuilder().addAddCapabilities("NET_ADMIN").addDropCapabilities("CHOWN"))
                    .setReadonlyRootfs(true)
                    .setNoNewPrivs(true)
                    .setSeccomp(SecurityProfile.newBuilder().setProfileType(SecurityProfile.ProfileType.RuntimeDefault));
            return b;
        });
        CONTAINERS.put("unconfined", b -> {
            b.getLinuxBuilder().getSecurityContextBuilder()
                    .setCapabilities(Capability.newBuilder().addDropCapabilities("ALL").addAddCapabilities("KILL"))
                    .setSeccomp(SecurityProfile.newBuilder().setProfileType(SecurityProfile.ProfileType.Unconfined));
            return b;
        });
    }

    private static PodSandboxConfig config(String name) {
        return CRI.podConfig(name, b -> {
            b.getLinuxBuilder().putSysctls("kernel.shm_rmid_forced", "1").putSysctls("net.ipv4.ping_group_range", "0 2147483647");
            return b;
        });
    }

    @BeforeAll
    static void pods() throws Exception {
        runc = CRI.runPod(config("secctx-runc"), "runc");
        vm = CRI.runPod(config("secctx-vm"), PrivateCri.HANDLER);
        for (Pod pod : List.of(runc, vm)) {
            for (var container : CONTAINERS.entrySet()) {
                pod.run(container.getValue().apply(pod.containerConfig(container.getKey(), "sh", "-c", REPORT)).build());
            }
        }
    }

    @AfterAll
    static void teardown() {
        Teardown.closeAll(vm, runc);
    }

    private static Map<String, String> report(Pod pod, String name) throws Exception {
        var lines = pod.awaitLog(name, l -> l.endsWith(" end-of-report"), Duration.ofSeconds(90));
        var report = new LinkedHashMap<String, String>();
        for (String line : lines) {
            Matcher m = ENTRY.matcher(line.split(" ", 4)[3]);
            if (m.matches()) {
                report.put(m.group(1), m.group(2).strip());
            }
        }
        return report;
    }

    @Test
    void defaultsMatchRunc() throws Exception {
        var fromVm = report(vm, "defaults");
        assertEquals(report(runc, "defaults"), fromVm);
        assertEquals("hello world", fromVm.get("env"));
        assertEquals("/tmp", fromVm.get("pwd"));
        assertEquals("0:0", fromVm.get("id"));
        assertEquals("rw", fromVm.get("rootfs"));
        assertEquals("2", fromVm.get("Seccomp"), "RuntimeDefault seccomp is a filter");
        // containerd's default capability set: 14 capabilities, 0x00000000a80425fb.
        assertEquals("00000000a80425fb", fromVm.get("CapEff"));
        assertEquals("1", fromVm.get("shm_rmid_forced"));
        assertEquals("0\t2147483647", fromVm.get("ping_group_range"));
    }

    @Test
    void userGroupsCapabilitiesReadOnlyRootfsAndNoNewPrivsMatchRunc() throws Exception {
        var fromVm = report(vm, "restricted");
        assertEquals(report(runc, "restricted"), fromVm);
        assertEquals("1000:2000", fromVm.get("id"));
        assertTrue(fromVm.get("groups").matches("2000 3000 4000|2000 4000 3000"), fromVm.get("groups"));
        assertEquals("ro", fromVm.get("rootfs"));
        assertEquals("1", fromVm.get("NoNewPrivs"));
        assertEquals("2", fromVm.get("Seccomp"));
        assertEquals("0000000000000000", fromVm.get("CapEff"), "a non-root user has no effective capabilities");
        // Bounding set: the defaults minus CHOWN (bit 0) plus NET_ADMIN (bit 12).
        assertEquals("00000000a80435fa", fromVm.get("CapBnd"));
    }

    @Test
    void unconfinedAndDropAllMatchRunc() throws Exception {
        var fromVm = report(vm, "unconfined");
        assertEquals(report(runc, "unconfined"), fromVm);
        assertEquals("0", fromVm.get("Seccomp"));
        assertEquals("0000000000000020", fromVm.get("CapEff"), "only KILL (bit 5)");
    }

    @Test
    void runtimeDefaultSeccompRefusesBlockedSyscalls() {
        // unshare(CLONE_NEWUSER) is denied by the default profile without CAP_SYS_ADMIN; runc shows the same.
        for (Pod pod : List.of(runc, vm)) {
            String id = pod.containerIdOf("defaults");
            var response = pod.execSync(id, Duration.ofSeconds(60), "unshare", "-U", "true");
            assertEquals(1, response.getExitCode(), () -> pod.handler() + ": unshare -U was allowed: "
                    + response.getStderr().toStringUtf8());
        }
    }
}
