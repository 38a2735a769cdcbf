package io.javakata.it;

import io.javakata.it.cri.v1.Mount;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * VM templates through CRI (docs/architecture.md "VM templates"), with the private containerd's
 * {@code javakata-template} handler (the serial transport, {@code [template] enabled = true}; scripts/containerd.sh).
 * The first pod builds the template of its shape, then it and the two pods after it start by restoring it: each QEMU
 * waits for its state ({@code -incoming defer}) with its RAM in a copy of the template's memory file in its own
 * sandbox directory, and exactly one template exists. Each pod's container reads a host volume through its
 * hot-plugged virtio-fs device, serves that file over HTTP to the host on its hot-plugged NIC (QEMU, in a network
 * namespace of its own with only a loopback device, serves it through the tap descriptor the shim handed it), and
 * differs from its siblings in
 * what a clone must not share: its first read of /dev/urandom, its boot id, its hostname; its clock is the host's.
 * After the pods, {@code template rm} removes the templates, and the leak check finds nothing left.
 */
@Tag("containerd")
@Tag("qemu")
@Tag("cri")
@Timeout(value = 720, unit = TimeUnit.SECONDS)
class TemplateIT {

    static final String HANDLER = "javakata-template";
    private static final Duration LOG_WAIT = Duration.ofSeconds(120);
    private static final Path TEMPLATES = PrivateContainerd.STATE.resolve("templates");

    @RegisterExtension
    static final PrivateCri CRI = new PrivateCri();

    /** What one pod's container reported on its first lines. */
    private record Seen(String random, long clock, String bootId, String hostname, String volume) {
    }

    @Test
    void podsRestoredFromOneTemplateHaveTheirOwnShareNetworkAndIdentity() throws Exception {
        Path volume = CRI.containerd().dir().resolve("template-volume");
        Files.createDirectories(volume);
        Files.writeString(volume.resolve("greeting"), "from the host\n");
        removeTemplates();
        try {
            threePods(volume);
        } finally {
            // The shim's own account, for the figures in docs/benchmarks.md.
            try (var lines = Files.lines(CRI.containerd().log())) {
                lines.filter(l -> l.matches(".*(VM template|template saved|restored from template|memory of template"
                        + "|cold boot|agent .* answered after).*")).forEach(l -> System.out.println("TemplateIT shim: " + l));
            }
            removeTemplates();
        }
        assertTrue(!Files.exists(TEMPLATES), "template rm removed " + TEMPLATES);
    }

    private static void threePods(Path volume) throws Exception {
        List<Seen> seen = new ArrayList<>();
        for (int i = 1; i <= 3; i++) {
            String name = "template-" + i;
            // The first pod boots the template VM, then restores it like the others: two boots' worth of time.
            Duration deadline = i == 1 ? Duration.ofSeconds(360) : Duration.ofSeconds(180);
            try (Pod pod = CRI.runPod(CRI.podConfig(name, UnaryOperator.identity()), HANDLER, deadline)) {
                long qemuPid = qemuOf(pod);
                String qemu = PrivateContainerd.cmdline(qemuPid);
                assertTrue(qemu.contains("-incoming defer"), "pod " + name + " restored a template: " + qemu);
                // A clone's QEMU runs in a network namespace of its own, with nothing in it but a loopback device
                // that stays down: it serves the pod's NIC through the tap descriptor the shim handed it.
                Path qemuNetns = Path.of("/proc/" + qemuPid + "/ns/net");
                assertTrue(!Files.readSymbolicLink(qemuNetns).equals(Files.readSymbolicLink(Path.of("/proc/self/ns/net"))),
                        "a clone's QEMU runs in the host's network namespace");
                String qemuLinks = Ctr.execute(List.of("nsenter", "--net=" + qemuNetns, "ip", "-o", "link", "show"),
                        null, Duration.ofSeconds(30)).assertOk().stdout();
                assertEquals(1, qemuLinks.strip().lines().count(), "QEMU's network namespace: " + qemuLinks);
                assertTrue(qemuLinks.contains(": lo: <LOOPBACK>"), "QEMU's network namespace: " + qemuLinks);
                assertTrue(qemu.matches("(?s).*memory-backend-file,id=mem,size=\\d+M,mem-path=/proc/\\d+/fd/\\d+,share=on.*"),
                        "its RAM is its own copy of the template's, in a memfd of its shim: " + qemu);
                assertEquals("memfd:javakata-ram-" + pod.id().substring(0, 12), qemuRam(qemu),
                        "QEMU maps the shim's memfd, not a file");
                assertTrue(!Files.exists(CRI.containerd().sandboxDir(pod.id()).resolve("memory")),
                        "no RAM file in the sandbox directory (on a node, /run's capped tmpfs)");
                long hostBefore = System.currentTimeMillis() / 1000;
                String app = pod.run("app", c -> c.addMounts(Mount.newBuilder().setHostPath(volume.toString())
                                .setContainerPath("/volume").setReadonly(true)),
                        "sh", "-c", "echo random=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n'); "
                                + "echo clock=$(date +%s); echo boot=$(cat /proc/sys/kernel/random/boot_id); "
                                + "echo host=$(hostname); httpd -p 8080 -h /volume; "
                                + "echo volume=$(cat /volume/greeting); sleep 3600");
                List<String> lines = pod.awaitLog("app", l -> l.contains(" stdout F volume="), LOG_WAIT);
                long hostAfter = System.currentTimeMillis() / 1000;
                Seen s = new Seen(field(lines, "random"), Long.parseLong(field(lines, "clock")), field(lines, "boot"),
                        field(lines, "host"), field(lines, "volume"));
                seen.add(s);
                assertEquals(32, s.random().length(), s.toString());
                // Read in the container between these two host readings (a second's slack for the rounding): a clone
                // that kept its template's clock would be behind by the template's age.
                assertTrue(s.clock() >= hostBefore - 1 && s.clock() <= hostAfter + 1, "the guest's clock is the "
                        + "host's: guest " + s.clock() + ", host between " + hostBefore + " and " + hostAfter);
                System.out.printf("TemplateIT: pod %s started in %d ms: %s%n", name, pod.runTime().toMillis(), s);
                assertEquals(36, s.bootId().length(), s.toString());
                assertEquals(name, s.hostname());
                assertEquals("from the host", s.volume(), "the hot-plugged virtio-fs device serves the volume");
                // The hot-plugged NIC: the host reaches the pod's IP (busybox httpd serving the volume).
                String ip = pod.status().getNetwork().getIp();
                var http = java.net.http.HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(20)).build();
                var answer = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://" + ip
                        + ":8080/greeting")).timeout(Duration.ofSeconds(30)).build(),
                        java.net.http.HttpResponse.BodyHandlers.ofString());
                assertEquals("from the host\n", answer.body(), "pod " + name + " over its NIC");
                pod.stopContainer(app, 0);
            }
        }
        for (var distinct : List.<java.util.function.Function<Seen, String>>of(Seen::random, Seen::bootId,
                Seen::hostname)) {
            Set<String> values = new HashSet<>();
            seen.forEach(s -> values.add(distinct.apply(s)));
            assertEquals(seen.size(), values.size(), "no two pods share it: " + seen);
        }
        try (var entries = Files.list(TEMPLATES)) {
            List<Path> templates = entries.filter(p -> p.getFileName().toString().matches("[0-9a-f]{32}")).toList();
            assertEquals(1, templates.size(), "one template for the three pods of one shape: " + templates);
        }
    }

    private static long qemuOf(Pod pod) throws IOException {
        List<Long> qemu = CRI.containerd().processesOf("qemu-system-x86_64", pod.id());
        assertEquals(1, qemu.size(), "one QEMU for the pod: " + qemu);
        return qemu.getFirst();
    }

    /** What the clone's mem-path leads to, read while the shim holds it open: a memfd's name, or a file. */
    private static String qemuRam(String qemuCommandLine) throws IOException {
        var m = java.util.regex.Pattern.compile("mem-path=(/proc/\\d+/fd/\\d+)").matcher(qemuCommandLine);
        assertTrue(m.find(), qemuCommandLine);
        String target = Files.readSymbolicLink(Path.of(m.group(1))).toString();
        return target.replaceFirst("^/", "").replaceFirst(" \\(deleted\\)$", "");
    }

    /** The value of the container's "key=value" line. */
    private static String field(List<String> lines, String key) {
        String marker = " stdout F " + key + "=";
        return lines.stream().filter(l -> l.contains(marker)).findFirst()
                .map(l -> l.substring(l.indexOf(marker) + marker.length()).strip())
                .orElseThrow(() -> new AssertionError("no " + key + "= line in " + lines));
    }

    private static void removeTemplates() {
        Ctr.execute(List.of("containerd-shim-javakata-v2", "template", "rm", "--config",
                CRI.containerd().dir().resolve(HANDLER + ".toml").toString()), null, Duration.ofSeconds(60)).assertOk();
    }
}
