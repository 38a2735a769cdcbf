package io.javakata.shim.agent;

import io.javakata.ttrpc.Code;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * How long the agent took to answer, per RPC method: a histogram with fixed buckets and a count of failures by code,
 * for the pod's metrics. The long polls ({@code WaitProcess}, {@code ReadStdout}, {@code ReadStderr}) and the calls
 * that wait by design ({@code GetOOMEvent}, {@code WriteStdin}) are left out: their time is the guest's, not the
 * agent's. Thread-safe and lock-free on the recording side.
 */
public final class AgentLatencies {

    /** Upper bounds of the buckets, in seconds (a TCG guest answers in ms to tens of ms, a loaded one in seconds). */
    public static final List<Double> BUCKETS = List.of(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
            2.5, 5.0, 10.0, 30.0);
    static final Set<String> WAITS = Set.of("WaitProcess", "ReadStdout", "ReadStderr", "GetOOMEvent", "WriteStdin");

    private final Map<String, Histogram> methods = new ConcurrentHashMap<>();

    /**
     * One method's histogram.
     *
     * @param buckets how many calls took at most each bound of {@link #BUCKETS} (cumulative, as Prometheus counts)
     * @param count   every call
     * @param sumSeconds their total time
     * @param failures failed calls by code name
     */
    public record Snapshot(List<Long> buckets, long count, double sumSeconds, Map<String, Long> failures) {
    }

    /** Records one call of {@code method} that took {@code nanos} and ended with {@code code} (OK or the error's). */
    public void record(String method, long nanos, Code code) {
        if (WAITS.contains(method)) {
            return;
        }
        methods.computeIfAbsent(method, m -> new Histogram()).record(nanos, code);
    }

    /** Every method seen so far, sorted by name. */
    public Map<String, Snapshot> snapshot() {
        Map<String, Snapshot> out = new TreeMap<>();
        methods.forEach((method, h) -> out.put(method, h.snapshot()));
        return out;
    }

    private static final class Histogram {
        private final LongAdder[] buckets = new LongAdder[BUCKETS.size()];
        private final LongAdder count = new LongAdder();
        private final LongAdder sumNanos = new LongAdder();
        private final Map<String, LongAdder> failures = new ConcurrentHashMap<>();

        Histogram() {
            for (int i = 0; i < buckets.length; i++) {
                buckets[i] = new LongAdder();
            }
        }

        void record(long nanos, Code code) {
            double seconds = nanos / 1e9;
            for (int i = 0; i < buckets.length; i++) {
                if (seconds <= BUCKETS.get(i)) {
                    buckets[i].increment();
                }
            }
            count.increment();
            sumNanos.add(nanos);
            if (code != Code.OK) {
                failures.computeIfAbsent(code.name(), c -> new LongAdder()).increment();
            }
        }

        Snapshot snapshot() {
            List<Long> counts = java.util.Arrays.stream(buckets).map(LongAdder::sum).toList();
            Map<String, Long> failed = new TreeMap<>();
            failures.forEach((c, n) -> failed.put(c, n.sum()));
            return new Snapshot(counts, count.sum(), sumNanos.sum() / 1e9, failed);
        }
    }
}
