package io.javakata.guest.network;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(10)
class ListeningPortsTest {

    /** Captured format of /proc/net/tcp: 0.0.0.0:80 and 127.0.0.1:8080 listen, 10.88.0.5:9000 listens, one established. */
    static final String TCP = """
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0000000000000000 100 0 0 10 0
               1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1112 1 0000000000000000 100 0 0 10 0
               2: 0500580A:2328 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1113 1 0000000000000000 100 0 0 10 0
               3: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 1114 1 0000000000000000 20 4 30 10 -1
            """;
    /** [::]:443 and [::1]:6379 listen; [fd00::5]:7000 listens; a TIME_WAIT. */
    static final String TCP6 = """
              sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2221 1 0000000000000000 100 0 0 10 0
               1: 00000000000000000000000001000000:18EB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2222 1 0000000000000000 100 0 0 10 0
               2: 000000FD000000000000000005000000:1B58 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2223 1 0000000000000000 100 0 0 10 0
               3: 00000000000000000000000001000000:18EB 00000000000000000000000001000000:9C40 06 00000000:00000000 03:00000000 00000000     0        0 0 3 0000000000000000
            """;

    @TempDir
    Path tmp;

    @Test
    void listeningSocketsOnWildcardOrLoopbackOnly() {
        assertEquals(Set.of(80, 8080), ListeningPorts.parse(TCP));
        assertEquals(Set.of(443, 6379), ListeningPorts.parse(TCP6));
        assertEquals(Set.of(), ListeningPorts.parse(""));
    }

    @Test
    void bothFilesAreReadAndAMissingTcp6IsFine() throws IOException {
        Path tcp = Files.writeString(tmp.resolve("tcp"), TCP);
        Path tcp6 = Files.writeString(tmp.resolve("tcp6"), TCP6);
        assertEquals(Set.of(80, 443, 6379, 8080), ListeningPorts.read(tcp, tcp6));
        assertEquals(Set.of(80, 8080), ListeningPorts.read(tcp, tmp.resolve("absent")));
    }

    @Test
    void theRealFilesShowAPortThisTestListensOnAndNotOnceItIsClosed() throws IOException {
        int port;
        try (ServerSocketChannel listener = ServerSocketChannel.open(StandardProtocolFamily.INET)) {
            listener.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            port = ((InetSocketAddress) listener.getLocalAddress()).getPort();
            Set<Integer> ports = ListeningPorts.read(Path.of("/proc/net/tcp"), Path.of("/proc/net/tcp6"));
            assertTrue(ports.contains(port), "127.0.0.1:" + port + " listens but is not in " + ports);
        }
        Set<Integer> after = ListeningPorts.read(Path.of("/proc/net/tcp"), Path.of("/proc/net/tcp6"));
        assertFalse(after.contains(port), "closed port " + port + " is still in " + after);
    }
}
