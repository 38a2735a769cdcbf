package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.javakata.it.cri.v1.Capability;
import io.javakata.it.cri.v1.ContainerConfig;
import io.javakata.it.cri.v1.ImageSpec;

/**
 * Issue 9 items 1 and 2: the guest kernel loads what a node's kernel loads on demand. In a javakata pod and in a
 * runc pod, the same containers run: an init container (run to completion first, as the kubelet runs one) installs
 * the iptables-legacy REDIRECT of port 80 to 8080 a service mesh's init container installs, and the pod then answers
 * on port 80 from the host at its IP; a container with NET_ADMIN makes a bridge with {@code brctl addbr}; a
 * privileged container makes a bridge, a tun device (busybox tunctl), a VXLAN interface, an overlay mount, reads the
 * nat table through nf_tables (iptables-nft) and the init container's rule through x_tables, and sees no agent.
 * Each container prints {@code check=ok} or {@code check=fail: <error>}; the reports must be equal to runc's and all
 * ok. Bridge, tun, vxlan, overlay, nf_tables, nft_compat and the nat/REDIRECT modules are not loaded when the guest
 * boots: each check loads what it needs through the kernel's request_module.
 */
@Tag("containerd")
@Tag("qemu")
@Tag("cri")
@Timeout(value = 420, unit = TimeUnit.SECONDS)
class KernelModulesIT {

    private static final Duration WAIT = Duration.ofSeconds(120);

    /** The init container: what Istio's istio-iptables and Linkerd's proxy-init install first, reduced to one rule. */
    private static final String REDIRECT = "iptables-legacy -t nat -A PREROUTING -p tcp --dport 80 -j REDIRECT "
            + "--to-ports 8080 && iptables-legacy -t nat -S PREROUTING";

    /** Each line runs a check and reports it as name=ok or name=fail: output. */
    private static String checks(String... nameAndCommand) {
        StringBuilder script = new StringBuilder();
        for (int i = 0; i < nameAndCommand.length; i += 2) {
            script.append("if out=$( { ").append(nameAndCommand[i + 1]).append(" ; } 2>&1); then echo ")
                    .append(nameAndCommand[i]).append("=ok; else echo \"").append(nameAndCommand[i])
                    .append("=fail: $(echo $out | head -c 300)\"; fi; ");
        }
        return script.append("echo end-of-report; sleep 3600").toString();
    }

    private static final String WEB = "mkdir -p /www && echo redirected > /www/index.html && httpd -p 8080 -h /www; "
            + checks("brctl_net_admin", "brctl addbr jkbr0 && grep -q DEVTYPE=bridge /sys/class/net/jkbr0/uevent");

    private static final String PRIVILEGED = checks(
            "brctl_privileged", "brctl addbr jkbr1 && ip link set jkbr1 up",
            "tun", "mkdir -p /dev/net && { [ -c /dev/net/tun ] || mknod /dev/net/tun c 10 200; } && tunctl -t jktun0 "
                    + "&& ip link show jktun0",
            "vxlan", "ip link add jkvx0 type vxlan id 42 dstport 4789 dev eth0 && grep -q DEVTYPE=vxlan /sys/class/net/jkvx0/uevent",
            "overlay", "mkdir -p /mnt/t /mnt/m && mount -t tmpfs jk /mnt/t && mkdir /mnt/t/u /mnt/t/w "
                    + "&& mount -t overlay jkov -o lowerdir=/etc,upperdir=/mnt/t/u,workdir=/mnt/t/w /mnt/m "
                    + "&& echo x > /mnt/m/jk && [ -f /mnt/t/u/jk ] && [ -f /mnt/m/passwd ]",
            "nf_tables", "iptables-nft -t nat -A OUTPUT -p tcp --dport 9 -j REDIRECT --to-ports 8080 "
                    + "&& iptables-nft -t nat -S OUTPUT | grep -q 'to-ports 8080'",
            "xtables_redirect_seen", "iptables-legacy -t nat -S PREROUTING | grep -q 'dport 80 -j REDIRECT --to-ports 8080'",
            "no_agent_visible", "! ps -o args | grep -v grep | grep -q javakata-agent");

    @RegisterExtension
    static final PrivateCri CRI = new PrivateCri();

    private static Pod vm;
    private static Pod runc;

    @BeforeAll
    static void pods() throws Exception {
        CRI.containerd().importImage(PrivateContainerd.iptablesImage());
        runc = start("modules-runc", "runc");
        vm = start("modules-vm", PrivateCri.HANDLER);
    }

    /** A privileged pod: the init container, then the web server and the privileged container. */
    private static Pod start(String name, String handler) throws Exception {
        Pod pod = CRI.runPod(CRI.podConfig(name, b -> {
            b.getLinuxBuilder().getSecurityContextBuilder().setPrivileged(true);
            return b;
        }), handler);
        ContainerConfig.Builder init = pod.containerConfig("redirect", "sh", "-c", REDIRECT)
                .setImage(ImageSpec.newBuilder().setImage(PrivateContainerd.IPTABLES_IMAGE));
        init.getLinuxBuilder().getSecurityContextBuilder()
                .setCapabilities(Capability.newBuilder().addAddCapabilities("NET_ADMIN").addAddCapabilities("NET_RAW"));
        String initId = pod.run(init.build());
        var status = pod.awaitExit(initId, WAIT);
        assertEquals(0, status.getExitCode(), () -> handler + ": the init container failed: "
                + String.join("\n", readLog(pod, "redirect")));
        ContainerConfig.Builder web = pod.containerConfig("web", "sh", "-c", WEB);
        web.getLinuxBuilder().getSecurityContextBuilder()
                .setCapabilities(Capability.newBuilder().addAddCapabilities("NET_ADMIN"));
        pod.run(web.build());
        ContainerConfig.Builder privileged = pod.containerConfig("privileged", "sh", "-c", PRIVILEGED)
                .setImage(ImageSpec.newBuilder().setImage(PrivateContainerd.IPTABLES_IMAGE));
        privileged.getLinuxBuilder().getSecurityContextBuilder().setPrivileged(true);
        pod.run(privileged.build());
        return pod;
    }

    private static List<String> readLog(Pod pod, String name) {
        try {
            return java.nio.file.Files.readAllLines(pod.logFile(name));
        } catch (java.io.IOException e) {
            return List.of("(no log: " + e.getMessage() + ")");
        }
    }

    @AfterAll
    static void teardown() {
        Teardown.closeAll(vm, runc);
    }

    /** name -> "ok" or "fail: ..." from a container's report. */
    private static Map<String, String> report(Pod pod, String name) throws Exception {
        var report = new LinkedHashMap<String, String>();
        for (String line : pod.awaitLog(name, l -> l.endsWith(" end-of-report"), WAIT)) {
            String text = line.split(" ", 4)[3];
            int eq = text.indexOf('=');
            if (eq > 0) {
                report.put(text.substring(0, eq), text.substring(eq + 1));
            }
        }
        return report;
    }

    private static void assertAllOk(Map<String, String> report, int checks) {
        assertEquals(checks, report.size(), report::toString);
        report.forEach((check, result) -> assertEquals("ok", result, check));
    }

    @Test
    void aBridgeMadeWithNetAdminAsUnderRunc() throws Exception {
        var fromVm = report(vm, "web");
        assertEquals(report(runc, "web"), fromVm);
        assertAllOk(fromVm, 1);
    }

    @Test
    void bridgeTunVxlanOverlayAndBothIptablesInAPrivilegedContainerAsUnderRunc() throws Exception {
        var fromVm = report(vm, "privileged");
        assertEquals(report(runc, "privileged"), fromVm);
        assertAllOk(fromVm, 7);
    }

    @Test
    void theInitContainersRedirectMakesThePodAnswerOnPort80AtItsIp() throws Exception {
        for (Pod pod : List.of(runc, vm)) {
            String rules = String.join("\n", readLog(pod, "redirect"));
            assertTrue(rules.contains("-A PREROUTING -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 8080"), rules);
            // Nothing listens on 80 in the pod: the answer comes from httpd on 8080 through the REDIRECT.
            assertEquals("redirected", NetworkIT.httpGet(pod.status().getNetwork().getIp(), 80), pod.handler());
        }
    }
}
