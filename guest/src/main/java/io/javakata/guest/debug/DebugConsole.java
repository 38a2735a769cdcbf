package io.javakata.guest.debug;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import io.javakata.debugconsole.DebugConsoleProtocol;
import io.javakata.guest.reaper.Reaper;
import io.javakata.guest.rpc.AgentPort;
import io.javakata.ttrpc.transport.DeviceConnection;

/**
 * The guest's debug console: a root shell in the VM, outside every container, on the virtio-serial port
 * {@value #PORT_NAME}. The host adds that port only when the runtime's configuration turns the console on
 * ({@code [agent] debug_console}); the agent serves it only when the port exists.
 *
 * <p>The port stays open for the agent's life (a closed virtio-serial port drops what the host sends; see
 * {@link DeviceConnection}). The first bytes a host sends start a shell ({@link DebugShell}) on a fresh
 * pseudo-terminal, and what the host types goes to it; what the shell writes goes back. A read that begins with
 * {@link DebugConsoleProtocol#SESSION_START} begins a new session: the previous shell is hung up. When the shell exits,
 * the host gets {@link DebugConsoleProtocol#endLine}, and the next bytes it sends start a
 * new shell. When the host goes away (the port reads end of file) the shell is hung up.
 *
 * <p>Runs on one platform thread (reads of the port block in the kernel); each shell has one more.
 */
public final class DebugConsole {

    private static final System.Logger LOG = System.getLogger(DebugConsole.class.getName());
    /** The virtio-serial port's name (QEMU {@code virtserialport,name=debug0}). */
    public static final String PORT_NAME = DebugConsoleProtocol.PORT_NAME;
    private static final long ABSENT_BACKOFF_MILLIS = 100;
    /** How long after the agent's start its debug console port may take to show. */
    static final long PORT_WAIT_MILLIS = 30_000;

    private final Path device;
    private final Reaper reaper;
    private final Path ptmx;

    /**
     * @param device the port's device ({@code /dev/vportNpM})
     * @param reaper starts the shells
     * @param ptmx   the pseudo-terminal multiplexer of the guest's devpts ({@code /dev/pts/ptmx})
     */
    DebugConsole(Path device, Reaper reaper, Path ptmx) {
        this.device = device;
        this.reaper = reaper;
        this.ptmx = ptmx;
    }

    /**
     * Looks for the port on a daemon thread for up to {@link #PORT_WAIT_MILLIS} (the kernel names a device's
     * ports some time after it found the device, so it may show after the agent's own port), and serves it
     * there for the agent's life once it shows.
     */
    public static void startWhenPortAppears(Path sysVirtioPorts, Path dev, Reaper reaper, Path ptmx) {
        Thread.ofPlatform().daemon().name("debug-console").start(() -> {
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(PORT_WAIT_MILLIS);
            try {
                while (true) {
                    Optional<Path> port = AgentPort.find(sysVirtioPorts, dev, PORT_NAME);
                    if (port.isPresent() && Files.exists(port.get())) {
                        new DebugConsole(port.get(), reaper, ptmx).serveForever();
                        return;
                    }
                    if (System.nanoTime() > deadline) {
                        LOG.log(Level.DEBUG, "msg=\"no debug console port: the console is off\"");
                        return;
                    }
                    TimeUnit.MILLISECONDS.sleep(ABSENT_BACKOFF_MILLIS);
                }
            } catch (IOException e) {
                LOG.log(Level.WARNING, "msg=\"debug console: {0}\"", e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
    }

    private void serveForever() {
        LOG.log(Level.WARNING, "msg=\"debug console enabled: a root shell outside every container is served on {0} "
                + "(configuration [agent] debug_console)\"", device);
        while (true) {
            try (DeviceConnection port = DeviceConnection.open(device)) {
                serve(port.input(), port.output());
            } catch (IOException e) {
                LOG.log(Level.WARNING, "msg=\"debug console {0}: {1}\"", device, e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            try {
                TimeUnit.MILLISECONDS.sleep(ABSENT_BACKOFF_MILLIS);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /** Relays host input to shells until reading the port fails. */
    void serve(InputStream fromHost, OutputStream toHost) throws IOException, InterruptedException {
        byte[] buffer = new byte[4096];
        DebugShell shell = null;
        while (true) {
            int n = fromHost.read(buffer);
            if (n < 0) {
                // No host: whatever shell there was lost its operator.
                if (shell != null) {
                    shell.hangUp();
                    shell = null;
                }
                TimeUnit.MILLISECONDS.sleep(ABSENT_BACKOFF_MILLIS);
                continue;
            }
            int offset = 0;
            if (startsSession(buffer, n)) {
                // A new host: whatever shell the previous one left is hung up, even if the guest never saw it go.
                if (shell != null) {
                    shell.hangUp();
                    shell = null;
                }
                offset = DebugConsoleProtocol.SESSION_START.length;
                if (offset == n) {
                    continue;
                }
            }
            if (shell == null || shell.ended()) {
                try {
                    shell = DebugShell.start(reaper, ptmx, toHost);
                } catch (IOException e) {
                    LOG.log(Level.WARNING, "msg=\"debug console: cannot start a shell: {0}\"", e.getMessage());
                    toHost.write(("\r\n[javakata debug console: cannot start a shell: " + e.getMessage() + "]\r\n")
                            .getBytes(StandardCharsets.UTF_8));
                    toHost.write(DebugConsoleProtocol.endLine(-1));
                    shell = null;
                    continue;
                }
            }
            shell.write(buffer, offset, n - offset);
        }
    }

    /** Whether a read begins with the host's session start sequence. */
    static boolean startsSession(byte[] buffer, int length) {
        byte[] start = DebugConsoleProtocol.SESSION_START;
        return length >= start.length && java.util.Arrays.equals(buffer, 0, start.length, start, 0, start.length);
    }
}
