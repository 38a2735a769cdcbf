package io.javakata.guest.container;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import io.javakata.guest.container.ProcessState.Event;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;

/** The guest's process table, every (state, event) pair: the next state, or the code of the refusal. */
class ProcessStateTest {

    private static final ProcessState REG = ProcessState.REGISTERED;
    private static final ProcessState CRE = ProcessState.CREATED;
    private static final ProcessState STA = ProcessState.STARTING;
    private static final ProcessState RUN = ProcessState.RUNNING;
    private static final ProcessState EXI = ProcessState.EXITED;
    private static final ProcessState REM = ProcessState.REMOVED;
    private static final Code FP = Code.FAILED_PRECONDITION;
    private static final Code NF = Code.NOT_FOUND;

    /** The javadoc table of {@link ProcessState#next}, row by row, in {@link Event} order. */
    private static final Map<ProcessState, List<Object>> TABLE = new HashMap<>();

    static {
        //                START STARTED EXIT SIGNAL EXEC PAUSE RESUME UPDATE REMOVE DELETE
        TABLE.put(REG, List.of(STA, FP, EXI, NF, FP, FP, FP, FP, REM, FP));
        TABLE.put(CRE, List.of(RUN, FP, EXI, CRE, CRE, CRE, CRE, CRE, FP, REM));
        TABLE.put(STA, List.of(FP, RUN, EXI, NF, FP, FP, FP, FP, FP, FP));
        TABLE.put(RUN, List.of(FP, FP, EXI, RUN, RUN, RUN, RUN, RUN, FP, REM));
        TABLE.put(EXI, List.of(FP, FP, EXI, NF, FP, FP, FP, FP, REM, REM));
        TABLE.put(REM, List.of(NF, NF, REM, NF, NF, NF, NF, NF, NF, NF));
    }

    static Stream<Arguments> everyPair() {
        List<Arguments> pairs = new ArrayList<>();
        for (ProcessState state : ProcessState.ALL) {
            for (Event event : Event.values()) {
                pairs.add(Arguments.of(state, event, TABLE.get(state).get(event.ordinal())));
            }
        }
        return pairs.stream();
    }

    @ParameterizedTest(name = "{0} + {1} -> {2}")
    @MethodSource("everyPair")
    void eachPairGivesTheTablesAnswer(ProcessState state, Event event, Object expected) {
        if (expected instanceof ProcessState next) {
            assertEquals(next, state.next(event));
        } else {
            RuntimeStatusException refused = assertThrows(RuntimeStatusException.class, () -> state.next(event));
            assertEquals(expected, refused.code(), refused.getMessage());
        }
    }

    @Test
    void theTableCoversEveryStateAndEvent() {
        assertEquals(ProcessState.ALL.size(), TABLE.size());
        TABLE.values().forEach(row -> assertEquals(Event.values().length, row.size()));
    }

    @Test
    void refusalsNameTheCallAndTheState() {
        assertEquals("cannot start a process that is running",
                assertThrows(RuntimeStatusException.class, () -> RUN.next(Event.START)).getMessage());
        assertEquals("cannot exec in a process that is exited",
                assertThrows(RuntimeStatusException.class, () -> EXI.next(Event.EXEC)).getMessage());
        assertEquals("process already finished",
                assertThrows(RuntimeStatusException.class, () -> EXI.next(Event.SIGNAL)).getMessage());
        assertEquals("process not started",
                assertThrows(RuntimeStatusException.class, () -> STA.next(Event.SIGNAL)).getMessage());
    }

    @Test
    void theExitIsAFactNeverRefused() {
        for (ProcessState state : ProcessState.ALL) {
            ProcessState after = state.next(Event.EXIT);
            assertTrue(after == EXI || after == REM, state + " -> " + after);
        }
    }

    @Test
    void anInitIsNeverRegisteredOrStartingAndAnExecNeverCreated() {
        // An init's life: created, running, exited, removed, and none of its events lead anywhere else.
        EnumSet<Event> initEvents = EnumSet.of(Event.START, Event.EXIT, Event.SIGNAL, Event.EXEC, Event.PAUSE,
                Event.RESUME, Event.UPDATE, Event.DELETE);
        assertReachable(CRE, initEvents, List.of(CRE, RUN, EXI, REM));
        EnumSet<Event> execEvents = EnumSet.of(Event.START, Event.STARTED, Event.EXIT, Event.SIGNAL, Event.REMOVE);
        assertReachable(REG, execEvents, List.of(REG, STA, RUN, EXI, REM));
    }

    private static void assertReachable(ProcessState from, EnumSet<Event> events, List<ProcessState> expected) {
        List<ProcessState> seen = new ArrayList<>(List.of(from));
        for (int i = 0; i < seen.size(); i++) {
            for (Event event : events) {
                try {
                    ProcessState next = seen.get(i).next(event);
                    if (!seen.contains(next)) {
                        seen.add(next);
                    }
                } catch (RuntimeStatusException refused) {
                    // not an edge
                }
            }
        }
        assertEquals(Set.copyOf(expected), Set.copyOf(seen));
    }
}
