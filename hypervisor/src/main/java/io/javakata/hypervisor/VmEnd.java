package io.javakata.hypervisor;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * What ended a VM, in one sentence, for whoever reports it: a boot that fails, a pod declared dead.
 *
 * <p>The VMM's exit is the cause whenever it comes soon enough: a backend that ends with it only followed it. A
 * vhost-user backend exits when its VMM's end closes the connection (virtiofsd then logs "Unexpected poll revents" and
 * exits with status 0), and a dying process's files are closed before its parent can reap it (exit(2): "Any open
 * file descriptors belonging to the process are closed"; the parent learns of the exit only after), so the backend's
 * exit is often seen first. A backend's exit is therefore taken for the cause only when the VMM still runs
 * {@link #GRACE} after it; otherwise the sentence names the VMM. The hypervisor logs every exit, backends' included,
 * once, so this class only words the verdict and may be asked for it by several watchers.
 */
public final class VmEnd {

    /** How long after a backend's exit the VMM's own exit still counts as the cause. */
    public static final Duration GRACE = Duration.ofSeconds(1);

    private VmEnd() {
    }

    /** Completes, with a sentence naming what ended {@code vm}, when its VMM or a backend of it exits. */
    public static CompletableFuture<String> watch(Hypervisor vm) {
        return watch(vm, GRACE);
    }

    /** As {@link #watch(Hypervisor)}, with a backend's exit the cause only when the VMM runs on for {@code grace}. */
    public static CompletableFuture<String> watch(Hypervisor vm, Duration grace) {
        CompletableFuture<String> end = new CompletableFuture<>();
        vm.onExit().whenComplete((status, e) -> end.complete(vmmExited(vm.pid(), e == null ? status : null)));
        vm.onBackendExit().whenComplete((why, e) -> CompletableFuture.delayedExecutor(grace.toMillis(),
                TimeUnit.MILLISECONDS).execute(() -> end.complete(e == null ? why : "a backend of its VM exited")));
        return end;
    }

    /** The sentence for a VMM that exited with {@code status} (null when unknown). */
    public static String vmmExited(long pid, Integer status) {
        return "its VMM (pid " + pid + ") exited" + (status == null ? "" : " with status " + status);
    }

    /**
     * {@code failure}, a step of a boot that failed, after what ended the VM meanwhile ({@code ended}), if anything
     * did: so that a step which failed for want of an answer is not taken for the cause.
     */
    public static String whileBooting(java.util.Optional<String> ended, String failure) {
        return ended.map(end -> end + " while it booted: ").orElse("") + failure;
    }
}
