package io.javakata.ttrpc;

import org.junit.jupiter.api.Test;

import java.io.IOException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

class ErrorsTest {

    @Test
    void aCauseIsKeptAndSaysWhatWentWrongEvenWithoutAMessage() {
        IOException io = new IOException("disk full");
        RuntimeStatusException e = Errors.unknown(io, "create container %s", "c1");
        assertEquals(Code.UNKNOWN, e.code());
        assertEquals("create container c1: disk full", e.getMessage());
        assertSame(io, e.getCause());

        RuntimeStatusException npe = Errors.withCause(Code.INTERNAL, new NullPointerException(), "start %s", "c2");
        assertEquals("start c2: NullPointerException", npe.getMessage(), "never \"start c2: null\"");
        assertEquals(Code.INTERNAL, npe.code());
    }

    @Test
    void aWrappedFailureMapsToItsCodeAndMessage() {
        var status = Statuses.toStatus(Errors.unknown(new IllegalStateException(), "kill %s", "c3"), "svc/Kill");
        assertEquals(Code.UNKNOWN.value(), status.getCode());
        assertEquals("kill c3: IllegalStateException", status.getMessage());
    }
}
