package io.javakata.hypervisor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.lang.reflect.Proxy;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The sentence that says what ended a VM names its VMM when the VMM's end is what took a backend with it. */
@Timeout(30)
class VmEndTest {

    private static final Duration GRACE = Duration.ofMillis(300);

    private final CompletableFuture<Integer> vmmExit = new CompletableFuture<>();
    private final CompletableFuture<String> backendExit = new CompletableFuture<>();

    private Hypervisor vm() {
        return (Hypervisor) Proxy.newProxyInstance(Hypervisor.class.getClassLoader(), new Class<?>[] {Hypervisor.class},
                (proxy, method, args) -> switch (method.getName()) {
                    case "onExit" -> vmmExit;
                    case "onBackendExit" -> backendExit;
                    case "pid" -> 4242L;
                    default -> throw new UnsupportedOperationException(method.getName());
                });
    }

    @Test
    void aVmmThatExitsIsTheCauseAtOnce() throws Exception {
        CompletableFuture<String> end = VmEnd.watch(vm(), Duration.ofSeconds(60));
        vmmExit.complete(137);
        assertEquals("its VMM (pid 4242) exited with status 137", end.get(1, TimeUnit.SECONDS));
    }

    /** What CI saw: QEMU SIGKILLed, virtiofsd's exit (status 0, its connection closed) noticed before QEMU's. */
    @Test
    void aBackendThatExitsJustBeforeItsVmmFollowedIt() throws Exception {
        CompletableFuture<String> end = VmEnd.watch(vm(), Duration.ofSeconds(60));
        backendExit.complete("virtiofsd pid 77 exited with code 0 while the VM ran: virtio_loop: Unexpected poll revents 11");
        assertFalse(end.isDone(), "the backend's exit waits for its VMM's");
        vmmExit.complete(137);
        assertEquals("its VMM (pid 4242) exited with status 137", end.get(1, TimeUnit.SECONDS));
    }

    @Test
    void aBackendThatExitsWhileItsVmmRunsOnIsTheCause() throws Exception {
        CompletableFuture<String> end = VmEnd.watch(vm(), GRACE);
        long exited = System.nanoTime();
        backendExit.complete("virtiofsd pid 77 exited with code 1 while the VM ran");
        assertEquals("virtiofsd pid 77 exited with code 1 while the VM ran", end.get(10, TimeUnit.SECONDS));
        assertFalse(Duration.ofNanos(System.nanoTime() - exited).compareTo(GRACE) < 0, "reported before the grace");
        vmmExit.complete(1);
        assertEquals("virtiofsd pid 77 exited with code 1 while the VM ran", end.join(), "the first verdict stays");
    }

    @Test
    void aVmmWhoseStatusIsUnknownIsStillNamed() throws Exception {
        CompletableFuture<String> end = VmEnd.watch(vm(), GRACE);
        vmmExit.completeExceptionally(new IllegalStateException("not started"));
        assertEquals("its VMM (pid 4242) exited", end.get(1, TimeUnit.SECONDS));
    }
}
