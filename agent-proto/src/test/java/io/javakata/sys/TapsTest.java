package io.javakata.sys;

import static io.javakata.sys.IpCommand.ip;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Against a real tap in a network namespace made with {@code ip netns add} and {@code ip tuntap} (as root). */
@Timeout(30)
class TapsTest {

    private String name;
    private Path netns;

    @BeforeEach
    void addNamespaceWithTap() throws Exception {
        name = "jk-taptest-" + UUID.randomUUID().toString().substring(0, 8);
        netns = Path.of("/var/run/netns", name);
        ip("netns", "add", name);
        ip("-n", name, "tuntap", "add", "dev", "tap0_jk", "mode", "tap");
        ip("-n", name, "link", "set", "tap0_jk", "up");
    }

    @AfterEach
    void deleteNamespace() throws Exception {
        ip("netns", "del", name);
    }

    @Test
    void theDescriptorServesTheTapOfItsNamespaceFromAnywhere() throws Exception {
        int fd = Namespaces.inNetwork(netns, () -> Taps.open("tap0_jk"));
        try {
            assertEquals(Taps.IFF_TAP | Taps.IFF_NO_PI | Taps.IFF_VNET_HDR,
                    Taps.flags(fd) & (Taps.IFF_TAP | Taps.IFF_NO_PI | Taps.IFF_VNET_HDR));
            assertTrue(Files.readString(Path.of("/proc/self/fdinfo/" + fd)).contains("iff:\ttap0_jk"),
                    "the kernel names the device the descriptor is attached to");
            // Attached, the tap has a carrier: "ip link" no longer says NO-CARRIER.
            String link = ip("-n", name, "link", "show", "tap0_jk");
            assertTrue(link.contains("LOWER_UP"), link);
        } finally {
            Fds.close(fd);
        }
        String link = ip("-n", name, "link", "show", "tap0_jk");
        assertTrue(link.contains("NO-CARRIER"), "closed, the queue is gone: " + link);
    }

    @Test
    void aNameWithNoTapBehindItIsAnErrorAndLeavesNoDevice() throws Exception {
        // As root TUNSETIFF makes a tap of an unknown name; open must not hand that out, and must not leave it.
        IOException e = assertThrows(IOException.class,
                () -> Namespaces.inNetwork(netns, () -> Taps.open("tap9_absent")));
        assertTrue(e.getMessage().contains("tap tap9_absent: no such persistent tap"), e.getMessage());
        assertTrue(!ip("-n", name, "link", "show").contains("tap9_absent"), "no device left behind");
    }

    @Test
    void aNameThatCannotBeADeviceIsRefusedBeforeAnyCall() {
        assertThrows(IllegalArgumentException.class, () -> Taps.open(""));
        assertThrows(IllegalArgumentException.class, () -> Taps.open("a-name-far-too-long"));
        assertThrows(IllegalArgumentException.class, () -> Taps.open("../tap"));
    }
}
