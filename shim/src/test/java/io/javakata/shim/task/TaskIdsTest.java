package io.javakata.shim.task;

import io.javakata.ttrpc.Code;
import io.javakata.ttrpc.RuntimeStatusException;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TaskIdsTest {

    @ParameterizedTest
    @ValueSource(strings = {"c1", "demo", "a.b_c-d", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "pod1-app.2"})
    void acceptsContainerdIds(String id) {
        assertEquals(id, TaskIds.container(id));
        assertEquals(id, TaskIds.exec(id));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "..", ".", "../x", "a/b", "/abs", "a..b", "-a", "a-", "a b", "a\nb", "a\u0000b",
            "é", "a__b", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"})
    void refusesAnythingElseWithInvalidArgument(String id) {
        RuntimeStatusException e = assertThrows(RuntimeStatusException.class, () -> TaskIds.container(id));
        assertEquals(Code.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().startsWith("container id \""), e.getMessage());
        assertTrue(e.getMessage().indexOf('\n') < 0 && e.getMessage().indexOf('\0') < 0, "control characters escaped");
    }

    @ParameterizedTest
    @ValueSource(strings = {"../e", "e/1", "e\u0001"})
    void refusesBadExecIds(String id) {
        assertEquals(Code.INVALID_ARGUMENT, assertThrows(RuntimeStatusException.class, () -> TaskIds.exec(id)).code());
    }

    @org.junit.jupiter.api.Test
    void theInitHasTheEmptyExecId() {
        assertEquals("", TaskIds.exec(""));
    }
}
