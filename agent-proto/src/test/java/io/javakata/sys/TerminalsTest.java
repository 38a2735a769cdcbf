package io.javakata.sys;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

@Timeout(20)
class TerminalsTest {

    private static final int O_NOCTTY = 0400;

    @Test
    void windowSizeSetOnTheMasterIsSeenOnTheSlave() throws Exception {
        int master = Fds.open(Path.of("/dev/ptmx"), Fds.O_RDWR | O_NOCTTY | Fds.O_CLOEXEC, 0);
        try {
            int n = Terminals.unlockSlave(master);
            int slave = Fds.open(Path.of("/dev/pts/" + n), Fds.O_RDWR | O_NOCTTY | Fds.O_CLOEXEC, 0);
            try {
                Terminals.setWindowSize(master, 40, 132);
                assertEquals(new Terminals.WindowSize(40, 132), Terminals.windowSize(slave));
            } finally {
                Fds.close(slave);
            }
        } finally {
            Fds.close(master);
        }
    }

    @Test
    void masterReadsWhatTheSlaveWroteThenEndsWhenTheSlaveCloses() throws Exception {
        int master = Fds.open(Path.of("/dev/ptmx"), Fds.O_RDWR | O_NOCTTY | Fds.O_CLOEXEC, 0);
        try {
            int slave = Fds.open(Path.of("/dev/pts/" + Terminals.unlockSlave(master)),
                    Fds.O_RDWR | O_NOCTTY | Fds.O_CLOEXEC, 0);
            Terminals.output(slave).write("hi\n".getBytes(StandardCharsets.US_ASCII));
            Fds.close(slave);
            InputStream in = Terminals.input(master);
            // The line discipline turns \n into \r\n (ONLCR); then EIO reads as end of stream.
            assertEquals("hi\r\n", new String(in.readAllBytes(), StandardCharsets.US_ASCII));
        } finally {
            Fds.close(master);
        }
    }

    @Test
    void windowSizeOfANonTerminalIsEnotty() throws Exception {
        int[] pair = FdPassing.socketPair();
        try {
            ErrnoException e = assertThrows(ErrnoException.class, () -> Terminals.setWindowSize(pair[0], 1, 1));
            assertEquals(25, e.errno());
        } finally {
            Fds.close(pair[0]);
            Fds.close(pair[1]);
        }
    }
}
