package io.javakata.shim.diagnose;

import io.javakata.debugconsole.DebugConsoleProtocol;
import io.javakata.hypervisor.qemu.VmPaths;
import io.javakata.ttrpc.Errors;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.OptionalInt;
import java.util.concurrent.CountDownLatch;

/**
 * {@code containerd-shim-javakata-v2 console POD}: connects the operator's terminal to the pod's debug console, a
 * root shell in the guest outside every container (the agent's {@code debug0} port, whose host side is QEMU's socket
 * in the pod's directory; only root can reach it). Exists only for pods started with {@code [agent] debug_console =
 * true}.
 *
 * <p>Bytes are relayed as they are both ways until the guest's end line ({@link DebugConsoleProtocol}) arrives; the
 * command then exits with the shell's status. When standard input is not a terminal (a script piped in), its end is
 * sent to the shell as end of file (^D), and the shell must exit within {@code afterInputEnds}. One session at a time:
 * QEMU accepts the next connection only when the current one closes.
 */
public final class DebugConsoleClient {

    /** ASCII EOT: the pty's line discipline reads it at the start of a line as end of file. */
    private static final byte EOT = 0x04;
    /** Enough of the stream to hold an end line cut in two by reads. */
    private static final int TAIL_CHARS = 256;

    private final InputStream in;
    private final OutputStream out;
    private final boolean interactive;
    private final Duration afterInputEnds;

    /**
     * @param in             what the operator types
     * @param out            where the guest's output goes
     * @param interactive    whether {@code in} is a terminal (then a newline is sent first, so the prompt shows)
     * @param afterInputEnds how long the shell may run on once a non-interactive input ended
     */
    public DebugConsoleClient(InputStream in, OutputStream out, boolean interactive, Duration afterInputEnds) {
        this.in = in;
        this.out = out;
        this.interactive = interactive;
        this.afterInputEnds = afterInputEnds;
    }

    /**
     * The debug console socket of the pod {@code pod} names under {@code stateDir}.
     *
     * @throws io.javakata.ttrpc.RuntimeStatusException NOT_FOUND for no such pod, FAILED_PRECONDITION for a pod
     *                                                  without a debug console
     */
    public static Path socketOf(Path stateDir, String pod) throws IOException {
        PodLookup.Found found = PodLookup.find(stateDir, pod);
        Path socket = new VmPaths(found.dir()).debugConsoleSocket();
        if (!Files.exists(socket)) {
            throw Errors.failedPrecondition("pod %s has no debug console: its runtime configuration has [agent] "
                    + "debug_console = false (set it to true for pods started after the change)", found.describe());
        }
        return socket;
    }

    /**
     * Relays until the shell exits, and returns its status (0 to 255; 1 if the guest did not say).
     *
     * @throws IOException when the socket cannot be reached, the VM goes away, or a piped input's shell does not
     *                     exit in time
     */
    public int run(Path socket) throws IOException {
        SocketChannel channel;
        try {
            channel = SocketChannel.open(UnixDomainSocketAddress.of(socket));
        } catch (IOException e) {
            throw new IOException("connect to the debug console " + socket + ": " + e.getMessage()
                    + " (is the pod's VM running?)", e);
        }
        try (channel) {
            CountDownLatch inputEnded = new CountDownLatch(1);
            Thread.ofPlatform().daemon().name("console-input").start(() -> copyInput(channel, inputEnded));
            Thread.ofPlatform().daemon().name("console-deadline").start(() -> {
                try {
                    inputEnded.await();
                    if (!interactive) {
                        Thread.sleep(afterInputEnds);
                        channel.close();
                    }
                } catch (InterruptedException | IOException e) {
                    // the session ended first
                }
            });
            return copyOutput(channel, inputEnded);
        }
    }

    private int copyOutput(SocketChannel channel, CountDownLatch inputEnded) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(8192);
        StringBuilder tail = new StringBuilder();
        while (true) {
            int n;
            try {
                n = channel.read(buffer.clear());
            } catch (IOException e) {
                if (inputEnded.getCount() == 0 && !channel.isOpen()) {
                    throw new IOException("the guest's shell did not exit within " + afterInputEnds.toSeconds()
                            + " s after the end of the input", e);
                }
                throw e;
            }
            if (n < 0) {
                throw new IOException("the debug console closed: the pod's VM went away");
            }
            out.write(buffer.array(), 0, n);
            out.flush();
            tail.append(new String(buffer.array(), 0, n, StandardCharsets.ISO_8859_1));
            OptionalInt status = DebugConsoleProtocol.endStatus(tail);
            if (status.isPresent()) {
                int s = status.getAsInt();
                return s >= 0 && s <= 255 ? s : 1;
            }
            if (tail.length() > TAIL_CHARS) {
                tail.delete(0, tail.length() - TAIL_CHARS);
            }
        }
    }

    private void copyInput(SocketChannel channel, CountDownLatch inputEnded) {
        byte[] buffer = new byte[4096];
        try {
            channel.write(ByteBuffer.wrap(DebugConsoleProtocol.SESSION_START));
            if (interactive) {
                channel.write(ByteBuffer.wrap(new byte[] {'\r'}));
            }
            int last = '\n';
            int n;
            while ((n = in.read(buffer)) >= 0) {
                if (n > 0) {
                    channel.write(ByteBuffer.wrap(buffer, 0, n));
                    last = buffer[n - 1];
                }
            }
            // End of a piped input: finish its last line, then end of file for the shell.
            channel.write(ByteBuffer.wrap(last == '\n' ? new byte[] {EOT} : new byte[] {'\n', EOT}));
        } catch (IOException e) {
            // the session ended
        } finally {
            inputEnded.countDown();
        }
    }
}
