package io.javakata.shim.agent;

import io.javakata.ttrpc.Code;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

@Timeout(5)
class AgentLatenciesTest {

    @Test
    void bucketsAreCumulativeAndFailuresCountedByCode() {
        AgentLatencies l = new AgentLatencies();
        l.record("Check", TimeUnit.MILLISECONDS.toNanos(3), Code.OK);
        l.record("Check", TimeUnit.MILLISECONDS.toNanos(40), Code.OK);
        l.record("Check", TimeUnit.SECONDS.toNanos(31), Code.DEADLINE_EXCEEDED);
        AgentLatencies.Snapshot s = l.snapshot().get("Check");
        assertEquals(3, s.count());
        assertEquals(31.043, s.sumSeconds(), 1e-9);
        // le 0.001, 0.0025: none; 0.005 .. 0.025: the 3 ms one; from 0.05 on: both quick ones; the 31 s one only in +Inf.
        assertEquals(java.util.List.of(0L, 0L, 1L, 1L, 1L, 2L, 2L, 2L, 2L, 2L, 2L, 2L, 2L, 2L), s.buckets());
        assertEquals(Map.of("DEADLINE_EXCEEDED", 1L), s.failures());
    }

    @Test
    void longPollsAreNotTheAgentsLatency() {
        AgentLatencies l = new AgentLatencies();
        for (String wait : AgentLatencies.WAITS) {
            l.record(wait, TimeUnit.SECONDS.toNanos(10), Code.OK);
        }
        l.record("StatsContainer", 1_000_000, Code.OK);
        assertEquals(java.util.Set.of("StatsContainer"), l.snapshot().keySet());
    }
}
