package io.javakata.shim.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.javakata.hypervisor.AgentEndpoint;
import io.javakata.hypervisor.Hypervisor;
import io.javakata.hypervisor.SchedStat;
import io.javakata.shim.agent.AgentDialer;
import io.javakata.ttrpc.transport.Connection;
import java.io.IOException;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** A boot ends as soon as its VM does, instead of when its boot timeout runs out. */
@Timeout(30)
class BootWatchTest {

    private static final AgentEndpoint ENDPOINT = new AgentEndpoint.HybridVsock(Path.of("/nonexistent/hvsock.sock"), 1024);

    @TempDir
    Path dir;

    private final CompletableFuture<Integer> vmmExit = new CompletableFuture<>();
    private final CompletableFuture<String> backendExit = new CompletableFuture<>();
    /** What the VM's {@code awaitAgentChannel} does: by default, return at once. */
    private ChannelWait channelWait = (timeout, giveUp) -> { };

    @FunctionalInterface
    private interface ChannelWait {
        void await(Duration timeout, CompletableFuture<?> giveUp) throws IOException;
    }

    /** A VM that runs on: neither its VMM nor a backend ever exits. */
    static Hypervisor runningVm() {
        return new BootWatchTest().vm();
    }

    private Hypervisor vm() {
        return (Hypervisor) Proxy.newProxyInstance(Hypervisor.class.getClassLoader(), new Class<?>[] {Hypervisor.class},
                (proxy, method, args) -> switch (method.getName()) {
                    case "onExit" -> vmmExit;
                    case "onBackendExit" -> backendExit;
                    case "pid" -> 4242L;
                    case "vmmSchedStat" -> Optional.empty();
                    case "awaitAgentChannel" -> {
                        channelWait.await((Duration) args[0], (CompletableFuture<?>) args[1]);
                        yield null;
                    }
                    default -> throw new UnsupportedOperationException(method.getName());
                });
    }

    /**
     * A dialer that gets no answer until its timeout, as a hybrid vsock backend whose guest is gone, unless it is told
     * to give up (as the transports are: {@code TransportContract#aDialGivenUpEndsAtOnce}).
     */
    private static AgentDialer unanswered(CountDownLatch dialing, AtomicBoolean toldToGiveUp) {
        return (endpoint, timeout, giveUp) -> {
            dialing.countDown();
            try {
                giveUp.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
                toldToGiveUp.set(true);
                throw new IOException("connect " + endpoint + ": given up after 1 attempts");
            } catch (java.util.concurrent.TimeoutException e) {
                throw new IOException("connect " + endpoint + ": gave up");
            } catch (InterruptedException | java.util.concurrent.ExecutionException e) {
                throw new java.io.InterruptedIOException("interrupted");
            }
        };
    }

    @Test
    void aVmmThatExitsEndsTheDialAtOnce() throws Exception {
        CountDownLatch dialing = new CountDownLatch(1);
        AtomicBoolean toldToGiveUp = new AtomicBoolean();
        try (BootWatch watch = new BootWatch(vm())) {
            CompletableFuture<IOException> failed = CompletableFuture.supplyAsync(() -> assertThrows(IOException.class,
                    () -> watch.dial(unanswered(dialing, toldToGiveUp), ENDPOINT, Duration.ofSeconds(90))));
            assertTrue(dialing.await(10, TimeUnit.SECONDS));
            long exited = System.nanoTime();
            vmmExit.complete(0);
            IOException e = failed.get(10, TimeUnit.SECONDS);
            assertTrue(Duration.ofNanos(System.nanoTime() - exited).compareTo(Duration.ofSeconds(5)) < 0,
                    "the dial ended long after the VMM exited");
            assertTrue(e.getMessage().endsWith(": given up after 1 attempts"), e.getMessage());
            assertEquals(Optional.of("its VMM (pid 4242) exited with status 0"), watch.settledReason());
            assertTrue(toldToGiveUp.get(), "the dial was told to give up, and returned");
        }
    }

    @Test
    void aBackendThatExitsIsTheReason() throws Exception {
        try (BootWatch watch = new BootWatch(vm())) {
            backendExit.complete("virtiofsd (pid 77) exited with status 1");
            IOException e = assertThrows(IOException.class,
                    () -> watch.dial(unanswered(new CountDownLatch(1), new AtomicBoolean()), ENDPOINT,
                            Duration.ofSeconds(90)));
            assertTrue(e.getMessage().endsWith(": given up after 1 attempts"), e.getMessage());
            assertEquals(Optional.of("virtiofsd (pid 77) exited with status 1"), watch.settledReason());
        }
    }

    /** A dial that failed on its own as the VM ended: the failure's cause is read once it is settled. */
    @Test
    void aFailedBootWaitsForTheCauseOnlyWhenAProcessOfTheVmExited() throws Exception {
        try (BootWatch watch = new BootWatch(vm())) {
            long before = System.nanoTime();
            assertEquals(Optional.empty(), watch.settledReason());
            assertTrue(Duration.ofNanos(System.nanoTime() - before).compareTo(Duration.ofMillis(500)) < 0,
                    "a VM whose processes run costs no wait");
            backendExit.complete("virtiofsd pid 77 exited with code 0 while the VM ran");
            CompletableFuture.delayedExecutor(200, TimeUnit.MILLISECONDS).execute(() -> vmmExit.complete(137));
            assertEquals(Optional.of("its VMM (pid 4242) exited with status 137"), watch.settledReason());
        }
    }

    @Test
    void aDialThatSucceedsOrFailsOnItsOwnIsReturnedAsItIs() throws Exception {
        Connection connection = new Connection() {
            @Override
            public java.io.InputStream input() {
                return java.io.InputStream.nullInputStream();
            }

            @Override
            public java.io.OutputStream output() {
                return java.io.OutputStream.nullOutputStream();
            }

            @Override
            public String describe() {
                return "test";
            }

            @Override
            public void close() {
            }
        };
        IOException refused = new IOException("connect: gave up after 3 attempts");
        try (BootWatch watch = new BootWatch(vm())) {
            assertSame(connection, watch.dial((endpoint, timeout, giveUp) -> connection, ENDPOINT,
                    Duration.ofSeconds(5)));
            assertSame(refused, assertThrows(IOException.class, () -> watch.dial((endpoint, timeout, giveUp) -> {
                throw refused;
            }, ENDPOINT, Duration.ofSeconds(5))));
            assertEquals(Optional.empty(), watch.reason());
        }
    }

    /** The dial waits for the VM's channel first, and both share the one timeout: the dial gets what is left. */
    @Test
    void theDialWaitsUntilTheChannelMayBeOpenedWithinTheSameTimeout() throws Exception {
        List<String> order = new CopyOnWriteArrayList<>();
        channelWait = (timeout, giveUp) -> order.add("await " + timeout.toSeconds());
        AtomicReference<Duration> dialTimeout = new AtomicReference<>();
        IOException refused = new IOException("refused");
        try (BootWatch watch = new BootWatch(vm())) {
            assertSame(refused, assertThrows(IOException.class, () -> watch.dial((endpoint, timeout, giveUp) -> {
                order.add("dial");
                dialTimeout.set(timeout);
                throw refused;
            }, ENDPOINT, Duration.ofSeconds(60))));
        }
        assertEquals(List.of("await 60", "dial"), order);
        assertTrue(dialTimeout.get().compareTo(Duration.ofSeconds(60)) < 0, dialTimeout.get().toString());
        assertTrue(dialTimeout.get().compareTo(Duration.ofSeconds(50)) > 0, dialTimeout.get().toString());
    }

    /** A channel that never may be opened fails the dial, which never dials; the VM's end ends that wait too. */
    @Test
    void aChannelThatNeverOpensFailsTheBootWithoutADialAndAVmEndEndsTheWait() throws Exception {
        AtomicBoolean dialed = new AtomicBoolean();
        AgentDialer dialer = (endpoint, timeout, giveUp) -> {
            dialed.set(true);
            throw new IOException("dialed");
        };
        channelWait = (timeout, giveUp) -> {
            throw new IOException("the guest did not start its vsock device");
        };
        try (BootWatch watch = new BootWatch(vm())) {
            IOException e = assertThrows(IOException.class, () -> watch.dial(dialer, ENDPOINT, Duration.ofSeconds(5)));
            assertEquals("the guest did not start its vsock device", e.getMessage());
        }
        CountDownLatch waiting = new CountDownLatch(1);
        channelWait = (timeout, giveUp) -> {
            waiting.countDown();
            try {
                giveUp.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException | java.util.concurrent.ExecutionException
                     | java.util.concurrent.TimeoutException e) {
                throw new IOException("not given up: " + e);
            }
            throw new IOException("gave up waiting for the guest to start its vsock device");
        };
        try (BootWatch watch = new BootWatch(vm())) {
            CompletableFuture<IOException> failed = CompletableFuture.supplyAsync(
                    () -> assertThrows(IOException.class, () -> watch.dial(dialer, ENDPOINT, Duration.ofSeconds(90))));
            assertTrue(waiting.await(10, TimeUnit.SECONDS));
            vmmExit.complete(137);
            assertEquals("gave up waiting for the guest to start its vsock device",
                    failed.get(10, TimeUnit.SECONDS).getMessage());
            assertTrue(watch.reason().isPresent());
        }
        assertFalse(dialed.get());
    }

    @Test
    void theAgentConnectionIsClosedWhenTheVmEndsWhileTheWatchIsOpen() {
        AtomicBoolean closed = new AtomicBoolean();
        try (BootWatch watch = new BootWatch(vm())) {
            watch.closeOnEnd(() -> closed.set(true));
            assertFalse(closed.get());
            vmmExit.complete(137);
            assertTrue(closed.get(), "an agent call in flight fails at once");
        }
    }

    @Test
    void afterTheBootTheWatchLeavesTheAgentAlone() {
        AtomicBoolean closed = new AtomicBoolean();
        BootWatch watch = new BootWatch(vm());
        watch.closeOnEnd(() -> closed.set(true));
        watch.close();
        vmmExit.complete(0);
        assertFalse(closed.get(), "once the pod is up, the watchdog reports a VM that ends");
    }

    @Test
    void aVmmThatNeitherRunsNorWaitsEndsTheBoot() throws Exception {
        SchedStat stopped = new SchedStat(Duration.ofMillis(1200), Duration.ofMillis(30));
        CountDownLatch closed = new CountDownLatch(1);
        try (BootWatch watch = new BootWatch(vm(), () -> Optional.of(stopped), Duration.ofMillis(300),
                Duration.ofMillis(20))) {
            watch.closeOnEnd(closed::countDown);
            IOException e = assertThrows(IOException.class, () -> watch.dial(unanswered(new CountDownLatch(1),
                    new AtomicBoolean()), ENDPOINT, Duration.ofSeconds(20)));
            assertTrue(e.getMessage().endsWith(": given up after 1 attempts"), e.getMessage());
            assertEquals(Optional.of("its VMM (pid 4242) stopped running (neither on a CPU nor waiting for one for "
                    + "0 s: stopped by a signal, or frozen)"), watch.settledReason());
            assertTrue(closed.await(5, TimeUnit.SECONDS), "the agent connection is closed");
        }
    }

    @Test
    void aVmmThatRunsOrWaitsForACpuIsNotFrozen() throws Exception {
        java.util.concurrent.atomic.AtomicLong ran = new java.util.concurrent.atomic.AtomicLong();
        java.util.concurrent.atomic.AtomicLong waited = new java.util.concurrent.atomic.AtomicLong();
        AtomicBoolean starvedTurn = new AtomicBoolean();
        // Alternately a little time on a CPU and a little waiting for one (a host short of CPU): never frozen.
        try (BootWatch watch = new BootWatch(vm(), () -> {
            if (starvedTurn.getAndSet(!starvedTurn.get())) {
                waited.addAndGet(1);
            } else {
                ran.addAndGet(1);
            }
            return Optional.of(new SchedStat(Duration.ofNanos(ran.get()), Duration.ofNanos(waited.get())));
        }, Duration.ofMillis(200), Duration.ofMillis(20))) {
            TimeUnit.MILLISECONDS.sleep(800);
            assertEquals(Optional.empty(), watch.reason());
        }
    }

    @Test
    void noSchedulingStatisticsGiveNoVerdict() throws Exception {
        try (BootWatch watch = new BootWatch(vm(), Optional::empty, Duration.ofMillis(100), Duration.ofMillis(10))) {
            TimeUnit.MILLISECONDS.sleep(400);
            assertEquals(Optional.empty(), watch.reason());
        }
    }

    @Test
    void aCreateThatFailsAfterTheVmEndedSaysSoFirstWithTheConsoleTail() throws Exception {
        Path log = dir.resolve("console.log");
        Files.writeString(log, "[   14.1] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\n");
        String message = Sandbox.bootFailure("s1", Optional.of("its VMM (pid 9) exited with status 0"),
                "agent did not answer Check within 90 s (1 sent): connection closed", false, log);
        assertEquals("create sandbox s1: its VMM (pid 9) exited with status 0 while it booted: agent did not answer "
                + "Check within 90 s (1 sent): connection closed; VM console ends with:\n"
                + "[   14.1] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100", message);
    }

    @Test
    void anAgentThatNeverAnsweredFailsTheCreateWithTheConsoleTail() throws Exception {
        Path log = dir.resolve("console.log");
        Files.writeString(log, "[   31.0] Run /init as init process\n"
                + "[   95.2] rcu: INFO: rcu_sched self-detected stall\n");
        assertEquals("create sandbox s1: connect hvsock:/x:1024: gave up after 3 attempts; VM console ends with:\n"
                        + "[   31.0] Run /init as init process\n[   95.2] rcu: INFO: rcu_sched self-detected stall",
                Sandbox.bootFailure("s1", Optional.empty(), "connect hvsock:/x:1024: gave up after 3 attempts", true,
                        log));
    }

    @Test
    void aStepThatFailsOnceTheAgentAnsweredCarriesNoTail() throws Exception {
        Path log = dir.resolve("console.log");
        Files.writeString(log, "[    3.7] javakata-init: exec agent\n");
        assertEquals("create sandbox s1: no room", Sandbox.bootFailure("s1", Optional.empty(), "no room", false, log));
        assertEquals("create sandbox s1: refused", Sandbox.bootFailure("s1", Optional.empty(), "refused", true,
                dir.resolve("no-console.log")), "no console, no tail");
    }
}
