package io.javakata.shim.container;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.javakata.shim.container.ProcessState.Operation;
import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

@Timeout(value = 10, unit = TimeUnit.SECONDS)
class ProcessStateTest {

    static Stream<Arguments> legal() {
        return Stream.of(
                Arguments.of(ProcessState.CREATED, Operation.START, ProcessState.RUNNING),
                Arguments.of(ProcessState.CREATED, Operation.KILL, ProcessState.CREATED),
                Arguments.of(ProcessState.CREATED, Operation.EXIT, ProcessState.STOPPED),
                Arguments.of(ProcessState.CREATED, Operation.DELETE, ProcessState.DELETED),
                Arguments.of(ProcessState.RUNNING, Operation.KILL, ProcessState.RUNNING),
                Arguments.of(ProcessState.RUNNING, Operation.EXIT, ProcessState.STOPPED),
                Arguments.of(ProcessState.STOPPED, Operation.DELETE, ProcessState.DELETED),
                Arguments.of(ProcessState.CREATED, Operation.EXEC, ProcessState.CREATED),
                Arguments.of(ProcessState.RUNNING, Operation.EXEC, ProcessState.RUNNING),
                Arguments.of(ProcessState.RUNNING, Operation.PAUSE, ProcessState.PAUSED),
                Arguments.of(ProcessState.PAUSED, Operation.RESUME, ProcessState.RUNNING),
                Arguments.of(ProcessState.PAUSED, Operation.KILL, ProcessState.PAUSED),
                Arguments.of(ProcessState.PAUSED, Operation.EXIT, ProcessState.STOPPED));
    }

    static Stream<Arguments> refused() {
        return Stream.of(
                Arguments.of(ProcessState.RUNNING, Operation.START, Code.FAILED_PRECONDITION,
                        "cannot start a process in state running"),
                Arguments.of(ProcessState.RUNNING, Operation.DELETE, Code.FAILED_PRECONDITION,
                        "cannot delete a running process"),
                Arguments.of(ProcessState.STOPPED, Operation.START, Code.FAILED_PRECONDITION,
                        "cannot start a process in state stopped"),
                Arguments.of(ProcessState.STOPPED, Operation.EXIT, Code.FAILED_PRECONDITION,
                        "cannot exit a process in state stopped"),
                Arguments.of(ProcessState.STOPPED, Operation.KILL, Code.NOT_FOUND, "process already finished"),
                Arguments.of(ProcessState.DELETED, Operation.START, Code.FAILED_PRECONDITION,
                        "cannot start a process in state deleted"),
                Arguments.of(ProcessState.DELETED, Operation.EXIT, Code.FAILED_PRECONDITION,
                        "cannot exit a process in state deleted"),
                Arguments.of(ProcessState.DELETED, Operation.KILL, Code.NOT_FOUND, "process already deleted"),
                Arguments.of(ProcessState.DELETED, Operation.DELETE, Code.NOT_FOUND, "process already deleted"),
                Arguments.of(ProcessState.CREATED, Operation.PAUSE, Code.FAILED_PRECONDITION,
                        "cannot pause a process in state created"),
                Arguments.of(ProcessState.CREATED, Operation.RESUME, Code.FAILED_PRECONDITION,
                        "cannot resume a process in state created"),
                Arguments.of(ProcessState.RUNNING, Operation.RESUME, Code.FAILED_PRECONDITION,
                        "cannot resume a process in state running"),
                Arguments.of(ProcessState.PAUSED, Operation.START, Code.FAILED_PRECONDITION,
                        "cannot start a process in state paused"),
                Arguments.of(ProcessState.PAUSED, Operation.PAUSE, Code.FAILED_PRECONDITION,
                        "cannot pause a process in state paused"),
                Arguments.of(ProcessState.PAUSED, Operation.EXEC, Code.FAILED_PRECONDITION,
                        "cannot exec a process in state paused"),
                Arguments.of(ProcessState.PAUSED, Operation.DELETE, Code.FAILED_PRECONDITION,
                        "cannot delete a paused process"),
                Arguments.of(ProcessState.STOPPED, Operation.PAUSE, Code.FAILED_PRECONDITION,
                        "cannot pause a process in state stopped"),
                Arguments.of(ProcessState.STOPPED, Operation.RESUME, Code.FAILED_PRECONDITION,
                        "cannot resume a process in state stopped"),
                Arguments.of(ProcessState.STOPPED, Operation.EXEC, Code.FAILED_PRECONDITION,
                        "cannot exec a process in state stopped"),
                Arguments.of(ProcessState.DELETED, Operation.PAUSE, Code.FAILED_PRECONDITION,
                        "cannot pause a process in state deleted"),
                Arguments.of(ProcessState.DELETED, Operation.RESUME, Code.FAILED_PRECONDITION,
                        "cannot resume a process in state deleted"),
                Arguments.of(ProcessState.DELETED, Operation.EXEC, Code.FAILED_PRECONDITION,
                        "cannot exec a process in state deleted"));
    }

    @ParameterizedTest(name = "{0} --{1}--> {2}")
    @MethodSource("legal")
    void legalTransitions(ProcessState from, Operation op, ProcessState to) {
        assertEquals(to, from.next(op));
    }

    @ParameterizedTest(name = "{0} --{1}--> {2}")
    @MethodSource("refused")
    void refusedTransitions(ProcessState from, Operation op, Code code, String message) {
        RuntimeStatusException e = assertThrows(RuntimeStatusException.class, () -> from.next(op));
        assertEquals(code, e.code());
        assertEquals(message, e.getMessage());
    }

    @ParameterizedTest
    @MethodSource("everyPair")
    void everyPairIsEitherLegalOrRefusedWithACode(ProcessState from, Operation op) {
        boolean legal = legal().anyMatch(a -> a.get()[0].equals(from) && a.get()[1] == op);
        boolean refused = refused().anyMatch(a -> a.get()[0].equals(from) && a.get()[1] == op);
        assertEquals(true, legal ^ refused, from.label() + " " + op + " must be in exactly one table");
    }

    static Stream<Arguments> everyPair() {
        return Stream.of(ProcessState.CREATED, ProcessState.RUNNING, ProcessState.PAUSED, ProcessState.STOPPED,
                        ProcessState.DELETED)
                .flatMap(s -> Stream.of(Operation.values()).map(op -> Arguments.of(s, op)));
    }
}
