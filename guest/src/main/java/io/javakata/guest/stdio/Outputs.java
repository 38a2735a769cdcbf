package io.javakata.guest.stdio;

import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/** The output copiers of one process, and the bounded wait for their end ({@link ContainerStdio#outputsDrained}). */
final class Outputs {

    private static final System.Logger LOG = System.getLogger(Outputs.class.getName());

    private final String name;
    private final List<OutputCopier> copiers;
    private final AtomicBoolean drainScheduled = new AtomicBoolean();

    Outputs(String name, List<OutputCopier> copiers) {
        this.name = name;
        this.copiers = List.copyOf(copiers);
    }

    List<OutputCopier> copiers() {
        return copiers;
    }

    CompletableFuture<Void> done() {
        return CompletableFuture.allOf(copiers.stream().map(c -> c.done).toArray(CompletableFuture[]::new));
    }

    CompletableFuture<Void> drained(Duration bound) {
        CompletableFuture<Void> all = done();
        if (drainScheduled.compareAndSet(false, true) && !all.isDone()) {
            CompletableFuture.delayedExecutor(bound.toMillis(), TimeUnit.MILLISECONDS).execute(() -> {
                if (!all.isDone()) {
                    LOG.log(Level.INFO, "process={0} msg=\"output still open {1} ms after the exit: cut off\"",
                            name, bound.toMillis());
                    copiers.forEach(OutputCopier::cutOff);
                }
            });
        }
        return all;
    }
}
