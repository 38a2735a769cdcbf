package io.javakata.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Warm shims through CRI (docs/architecture.md, "Warm shims"), with the private containerd's {@code javakata-warm}
 * handler ({@code [runtime] warm_shims = 1}; its warm shims wait under the containerd's directory,
 * JAVAKATA_WARM_DIR). The first pod's `start` finds no warm shim and runs its own JVM, whose shim starts one warm
 * shim once the pod's sandbox has started; the second pod's shim is that very process (its bundle's shim.pid), which
 * says so in containerd's log, runs the pod's container (whose `start` the launcher answers without a JVM, as for
 * any pod) and exec, and starts the next warm shim, which still waits once both pods are gone, and declines a pod of
 * the {@code javakata-template} handler (no warm shims), which starts with its own JVM, and waits on. A warm shim
 * killed while it waits costs the next pod nothing but start's own JVM, and its directory is removed. At the end the
 * test kills the warm shims the pool kept (PrivateContainerd#stopWarmShims) and nothing else is left.
 */
@Tag("containerd")
@Tag("qemu")
@Tag("cri")
@Timeout(value = 720, unit = TimeUnit.SECONDS)
class WarmShimIT {

    static final String HANDLER = "javakata-warm";
    private static final Duration WARM_WAIT = Duration.ofSeconds(60);
    private static final Duration LOG_WAIT = Duration.ofSeconds(120);

    @RegisterExtension
    static final PrivateCri CRI = new PrivateCri();

    @Test
    void aPodTakesOverAWarmShimAndItsShimStartsTheNext() throws Exception {
        Path warm = CRI.containerd().dir().resolve("warm");
        try {
            long adopted;
            long next;
            try (Pod first = CRI.runPod(CRI.podConfig("warm-1", UnaryOperator.identity()), HANDLER,
                    Duration.ofSeconds(360))) {
                long firstShim = shimPid(first);
                assertFalse(takeOver(firstShim, first.id()), "no warm shim before the first pod");
                adopted = awaitReadyWarm(warm, -1);
                assertNotEquals(firstShim, adopted);

                try (Pod second = CRI.runPod(CRI.podConfig("warm-2", UnaryOperator.identity()), HANDLER,
                        Duration.ofSeconds(180))) {
                    assertEquals(adopted, shimPid(second), "the second pod's shim is the warm shim");
                    assertTrue(takeOver(adopted, second.id()), "containerd's log says which warm shim took over");
                    assertFalse(Files.exists(warm.resolve(Long.toString(adopted))), "its warm directory is gone");
                    String app = second.run("app", "sh", "-c", "echo warm app; sleep 3600");
                    second.awaitLog("app", l -> l.endsWith(" stdout F warm app"), LOG_WAIT);
                    // The launcher answered the container's start (the bundle's shim.start names the warm shim, whose
                    // command line is not a sandbox's start): no JVM ran for it.
                    assertFalse(logged("joins the running shim of " + second.id()),
                            "the app container's start went to a JVM instead of the launcher's join");
                    assertEquals("exec\n", second.execOk(app, "echo", "exec"));
                    next = awaitReadyWarm(warm, adopted);
                }
            }
            // The pool outlives the pods whose shims started it.
            long waiting = next;
            assertTrue(alive(waiting) && Files.exists(warm.resolve(waiting + "/ready")),
                    "the warm shim the second pod's shim started still waits after both pods are gone");

            // A pod of a handler without warm shims: the warm shim declines it, and waits on.
            try (Pod other = CRI.runPod(CRI.podConfig("warm-other", UnaryOperator.identity()), TemplateIT.HANDLER,
                    Duration.ofSeconds(180))) {
                assertNotEquals(waiting, shimPid(other));
                other.run("app", "sh", "-c", "echo other; sleep 3600");
                other.awaitLog("app", l -> l.endsWith(" stdout F other"), LOG_WAIT);
            }
            Await.until("the warm shim is ready again after it declined", WARM_WAIT,
                    () -> alive(waiting) && Files.exists(warm.resolve(waiting + "/ready")));

            // A warm shim that dies while it waits: the next pod's start runs its own JVM and sweeps it.
            ProcessHandle.of(waiting).ifPresent(ProcessHandle::destroyForcibly);
            Await.until("the killed warm shim is gone", WARM_WAIT, () -> !alive(waiting));
            try (Pod third = CRI.runPod(CRI.podConfig("warm-3", UnaryOperator.identity()), HANDLER,
                    Duration.ofSeconds(180))) {
                long thirdShim = shimPid(third);
                assertNotEquals(waiting, thirdShim);
                assertFalse(takeOver(thirdShim, third.id()));
                assertFalse(Files.exists(warm.resolve(Long.toString(waiting))), "the dead one's directory");
                third.run("app", "sh", "-c", "echo third; sleep 3600");
                third.awaitLog("app", l -> l.endsWith(" stdout F third"), LOG_WAIT);
            }
        } finally {
            CRI.containerd().stopWarmShims();
        }
        assertEquals(List.of(), warmDirectories(warm), "no warm shim directory left");
    }

    /** The pid in the pod's sandbox bundle's shim.pid. */
    private static long shimPid(Pod pod) throws IOException {
        return Long.parseLong(Files.readString(CRI.containerd().bundle(pod.id()).resolve("shim.pid")).strip());
    }

    /** Whether containerd's log has the line of warm shim {@code pid} taking over the start of {@code sandbox}. */
    private static boolean takeOver(long pid, String sandbox) throws IOException {
        return logged("warm shim " + pid + " takes over start of " + sandbox);
    }

    private static boolean logged(String text) throws IOException {
        try (Stream<String> lines = Files.lines(CRI.containerd().log())) {
            return lines.anyMatch(l -> l.contains(text));
        }
    }

    /** Waits until a warm shim other than {@code not} is ready (its directory has {@code ready}); its pid. */
    private static long awaitReadyWarm(Path warm, long not) throws Exception {
        var ready = new java.util.concurrent.atomic.AtomicLong();
        Await.until("a warm shim ready in " + warm, WARM_WAIT, () -> {
            warmDirectories(warm).stream().filter(d -> Files.exists(d.resolve("ready")))
                    .map(d -> Long.parseLong(d.getFileName().toString()))
                    .filter(pid -> pid != not && alive(pid)).findFirst().ifPresent(ready::set);
            return ready.get() != 0;
        });
        return ready.get();
    }

    private static boolean alive(long pid) {
        return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
    }

    private static List<Path> warmDirectories(Path warm) throws IOException {
        if (!Files.isDirectory(warm)) {
            return List.of();
        }
        try (Stream<Path> list = Files.list(warm)) {
            return list.filter(p -> p.getFileName().toString().matches("[0-9]+")).sorted().toList();
        }
    }
}
