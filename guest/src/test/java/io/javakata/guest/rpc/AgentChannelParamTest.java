package io.javakata.guest.rpc;

import org.junit.jupiter.api.Test;

import java.util.OptionalInt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AgentChannelParamTest {

    @Test
    void noParameterMeansVirtioSerial() {
        assertEquals(OptionalInt.empty(), AgentChannelParam.vsockPort("console=ttyS0 panic=-1 reboot=t\n"));
    }

    @Test
    void theLastParameterWins() {
        assertEquals(OptionalInt.of(1024), AgentChannelParam.vsockPort(
                "console=ttyS0 javakata.agent_vsock_port=9 quiet javakata.agent_vsock_port=1024\n"));
    }

    @Test
    void aBadPortIsRefusedWithItsValue() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> AgentChannelParam.vsockPort("javakata.agent_vsock_port=x1"));
        assertTrue(e.getMessage().contains("javakata.agent_vsock_port=x1"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> AgentChannelParam.vsockPort("javakata.agent_vsock_port=0"));
    }
}
