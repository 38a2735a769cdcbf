package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import io.javakata.it.cri.v1.ContainerState;
import io.javakata.it.cri.v1.ContainerStats;
import io.javakata.it.cri.v1.ContainerStatsRequest;
import io.javakata.it.cri.v1.ContainerStatus;
import io.javakata.it.cri.v1.Mount;
import io.javakata.it.cri.v1.PodSandboxState;

/**
 * Issue 8 item 5: containerd restarts while a pod runs. containerd is stopped with SIGTERM (its shims, VMs and pods
 * stay), a container exits while it is down, and containerd is started again on the same state. The pod keeps running
 * in the same VM under the same shim; the log holds every line written during the outage; exec, stats and the pod's
 * teardown work; the exit that happened during the outage is reported with its real code and time.
 */
@Tag("containerd")
@Tag("qemu")
@Tag("cri")
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class ContainerdRestartIT {

    private static final Duration WAIT = Duration.ofSeconds(90);
    private static final Pattern LINE = Pattern.compile(" stdout F line (\\d+)$");

    @RegisterExtension
    static final PrivateCri CRI = new PrivateCri();

    @Test
    void podsSurviveARestartOfContainerd() throws Exception {
        Path gate = CRI.containerd().dir().resolve("gate");
        Files.createDirectories(gate);
        try (Pod pod = CRI.runPod("restart-it")) {
            // The logger counts into its log and into a file the host reads while containerd is down.
            String logger = pod.run(pod.containerConfig("logger", "sh", "-c",
                    "i=0; while true; do i=$((i+1)); echo line $i; echo $i > /gate/count; sleep 0.2; done")
                    .addMounts(gateMount(gate)).build());
            String waiter = pod.run(pod.containerConfig("waiter", "sh", "-c",
                    "echo waiting; while [ ! -e /gate/go ]; do sleep 0.1; done; exit 7")
                    .addMounts(gateMount(gate)).build());
            pod.awaitLog("waiter", l -> l.endsWith(" stdout F waiting"), WAIT);
            pod.awaitLog("logger", l -> l.endsWith(" stdout F line 1"), WAIT);

            Path bundle = CRI.containerd().bundle(pod.id());
            long shimPid = Long.parseLong(Files.readString(bundle.resolve("shim.pid")).strip());
            List<Long> qemu = CRI.containerd().processes("qemu-system-x86_64");
            assertEquals(1, qemu.size(), () -> "QEMU processes of one pod: " + qemu);

            long cpuBefore = stats(logger).getCpu().getUsageCoreNanoSeconds().getValue();

            CRI.containerd().stopDaemon();
            long countAtRestart;
            int logOffset;
            List<String> shimLog;
            try {
                long countAtStop = count(gate);
                // While containerd is down nobody reads the shim's log FIFO: read it here, to see the exit queued.
                try (var tap = new FifoTap(bundle.resolve("log"))) {
                    Files.writeString(gate.resolve("go"), "");
                    shimLog = tap.awaitLines(List.of(
                            l -> l.contains("event /tasks/exit") && l.contains(waiter) && l.contains("exit_status: 7"),
                            l -> l.contains("containerd unreachable")), WAIT);
                }
                // A few lines more, so that some were surely written while containerd was down.
                countAtRestart = awaitCount(gate, countAtStop + 3, WAIT);
                logOffset = Files.readAllLines(CRI.containerd().log(), StandardCharsets.UTF_8).size();
            } finally {
                CRI.containerd().startDaemon();
            }
            CRI.awaitReady(Duration.ofSeconds(60));

            // The same pod, in the same VM, under the same shim.
            assertEquals(PodSandboxState.SANDBOX_READY, pod.status().getState());
            assertEquals(ContainerState.CONTAINER_RUNNING, pod.containerStatus(logger).getState());
            assertEquals(qemu, CRI.containerd().processes("qemu-system-x86_64"));
            assertTrue(ProcessHandle.of(shimPid).map(ProcessHandle::isAlive).orElse(false), "the shim is gone");

            // The exit that happened while containerd was down (the shim logged it above), with its code. Its time
            // comes from the guest's clock, which is not the host's: only its presence is checked.
            ContainerStatus exited = pod.awaitExit(waiter, WAIT);
            assertEquals(7, exited.getExitCode(),
                    () -> "waiter: " + exited + "\nshim log:\n" + String.join("\n", shimLog));
            assertTrue(exited.getFinishedAt() > exited.getStartedAt(), exited::toString);
            // The queued TaskExit reached containerd once it was back (its log, the shim's included from then on).
            awaitContainerdLog(logOffset, l -> l.contains("event forwarded") && l.contains("topic=/tasks/exit"), WAIT);
            awaitContainerdLog(logOffset, l -> l.contains("containerd takes events again: /tasks/exit"), WAIT);

            // Every line, those written during the outage included, reaches the log, and it keeps growing.
            List<String> lines = pod.awaitLog("logger", l -> lineNumber(l) > countAtRestart + 2, WAIT);
            assertNoGap(lines);

            assertEquals("alive\n", pod.execOk(logger, "echo", "alive"));
            ContainerStats stats = stats(logger);
            assertTrue(stats.getCpu().getUsageCoreNanoSeconds().getValue() > cpuBefore,
                    () -> "CPU use of the logger did not grow from " + cpuBefore + " ns: " + stats);
            assertTrue(stats.getMemory().getUsageBytes().getValue() > 0, stats::toString);

            // StopPodSandbox kills the logger; RemovePodSandbox removes both containers.
            pod.stop();
            assertEquals(PodSandboxState.SANDBOX_NOTREADY, pod.status().getState());
            assertEquals(ContainerState.CONTAINER_EXITED, pod.containerStatus(logger).getState());
            pod.remove();
        }
        // PrivateCri's leak check after the class finds any process, mount, sandbox or cgroup left behind.
    }

    private static ContainerStats stats(String containerId) {
        return CRI.cri().runtime()
                .containerStats(ContainerStatsRequest.newBuilder().setContainerId(containerId).build()).getStats();
    }

    private static Mount gateMount(Path gate) {
        return Mount.newBuilder().setHostPath(gate.toString()).setContainerPath("/gate").build();
    }

    /** The logger's last count, as it wrote it into the gate volume. */
    private static long count(Path gate) throws IOException {
        String text = Files.exists(gate.resolve("count")) ? Files.readString(gate.resolve("count")).strip() : "";
        return text.matches("\\d+") ? Long.parseLong(text) : 0;
    }

    private static long awaitCount(Path gate, long atLeast, Duration timeout) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        long count = count(gate);
        while (count < atLeast) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the logger counted to " + count + " only, while containerd was down");
            }
            Thread.sleep(100);
            count = count(gate);
        }
        return count;
    }

    private static long lineNumber(String logLine) {
        Matcher m = LINE.matcher(logLine);
        return m.find() ? Long.parseLong(m.group(1)) : -1;
    }

    private static void assertNoGap(List<String> lines) {
        var numbers = new TreeSet<Long>();
        lines.stream().mapToLong(ContainerdRestartIT::lineNumber).filter(n -> n > 0).forEach(numbers::add);
        long last = numbers.last();
        var missing = new ArrayList<Long>();
        for (long n = 1; n <= last && missing.size() < 20; n++) {
            if (!numbers.contains(n)) {
                missing.add(n);
            }
        }
        assertTrue(missing.isEmpty(),
                () -> "lines missing from the logger's log (up to line " + last + "): " + missing);
    }

    /** Waits for a line of containerd's log, from line {@code offset} on, that matches {@code until}. */
    private static void awaitContainerdLog(int offset, Predicate<String> until, Duration timeout)
            throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        Path log = CRI.containerd().log();
        while (Files.readAllLines(log, StandardCharsets.UTF_8).stream().skip(offset).noneMatch(until)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no matching line in " + log + " after " + timeout);
            }
            Thread.sleep(200);
        }
    }

    /**
     * Reads a FIFO's lines on a platform thread (closing a FileChannel wakes a platform thread blocked in its read).
     * Opening it does not block while the shim holds the write end.
     */
    private static final class FifoTap implements AutoCloseable {
        private final FileChannel channel;
        private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        private final Thread reader;

        FifoTap(Path fifo) throws IOException {
            channel = FileChannel.open(fifo, StandardOpenOption.READ);
            reader = Thread.ofPlatform().daemon().name("fifo-tap").start(this::read);
        }

        private void read() {
            var pending = new StringBuilder();
            ByteBuffer buffer = ByteBuffer.allocate(8192);
            try {
                while (channel.read(buffer) >= 0) {
                    buffer.flip();
                    pending.append(StandardCharsets.UTF_8.decode(buffer));
                    buffer.clear();
                    int nl;
                    while ((nl = pending.indexOf("\n")) >= 0) {
                        lines.add(pending.substring(0, nl));
                        pending.delete(0, nl + 1);
                    }
                }
            } catch (IOException e) {
                // closed by close()
            }
        }

        /** Every line read until each predicate matched one of them. */
        List<String> awaitLines(List<Predicate<String>> wanted, Duration timeout) throws InterruptedException {
            long deadline = System.nanoTime() + timeout.toNanos();
            var seen = new ArrayList<String>();
            var missing = new ArrayList<>(wanted);
            while (!missing.isEmpty()) {
                String line = lines.poll(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                if (line == null) {
                    throw new AssertionError("the shim logged no matching line in " + timeout + "; it logged:\n"
                            + String.join("\n", seen));
                }
                seen.add(line);
                missing.removeIf(p -> p.test(line));
            }
            return seen;
        }

        @Override
        public void close() throws IOException, InterruptedException {
            channel.close();
            reader.join(Duration.ofSeconds(5));
        }
    }
}
