package io.javakata.shim.hostcheck;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(5)
class CapabilitiesTest {

    @Test
    void rootWithoutSysResourceHasEveryRequiredOne() {
        // This machine's root: every capability but cap_sys_resource (bit 24).
        Capabilities caps = Capabilities.fromStatus("Name:\tjava\nCapInh:\t0000000000000000\n"
                + "CapEff:\t000001fffeffffff\nCapBnd:\t000001fffeffffff\n").orElseThrow();
        assertEquals(List.of(), caps.missingRequired());
        assertFalse(caps.has("cap_sys_resource"));
        assertTrue(caps.has("CAP_SYS_ADMIN"));
        assertTrue(caps.has("cap_checkpoint_restore"));
    }

    @Test
    void namesWhatIsMissingInOrder() {
        long adminAndKill = (1L << 21) | (1L << 5);
        Capabilities caps = new Capabilities(adminAndKill);
        assertEquals(List.of("cap_net_admin", "cap_setuid", "cap_setgid", "cap_chown", "cap_dac_override",
                "cap_fowner", "cap_fsetid"), caps.missingRequired());
        assertEquals(List.copyOf(Capabilities.REQUIRED.keySet()), new Capabilities(0).missingRequired());
    }

    @Test
    void malformedOrMissingCapEffIsEmpty() {
        assertEquals(Optional.empty(), Capabilities.fromStatus("CapEff:\tzz\n"));
        assertEquals(Optional.empty(), Capabilities.fromStatus("Name:\tx\n"));
    }
}
