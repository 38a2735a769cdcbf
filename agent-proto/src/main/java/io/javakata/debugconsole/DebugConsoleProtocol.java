package io.javakata.debugconsole;

import java.nio.charset.StandardCharsets;
import java.util.OptionalInt;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What the host and the guest agree on for the debug console: a virtio-serial port named {@value #PORT_NAME}
 * that carries raw terminal bytes both ways; a sequence the host sends first on each connection,
 * {@link #SESSION_START}, because the guest cannot see a host that reconnects quickly go away (a virtio-serial port
 * only reads end of file while no host is connected); and one line the agent sends when the shell of a session exits,
 * {@value #END_PREFIX}<i>status</i>{@code ]}, on which the host's {@code console} command ends. A virtio-serial
 * port cannot tell the host that the guest side finished, hence the line. The guest writes that line, so the host
 * only ever ends its session on it; it never acts on anything else the guest sends.
 */
public final class DebugConsoleProtocol {

    /** The port's name (QEMU {@code virtserialport,name=debug0}). */
    public static final String PORT_NAME = "debug0";
    /** How a finished shell's line starts. */
    public static final String END_PREFIX = "[javakata debug console: the shell exited with status ";
    /**
     * What the host's console command sends first on every connection: an OSC control sequence no terminal prints
     * and no one types, on which the agent hangs up the previous session's shell and starts a new one.
     */
    public static final byte[] SESSION_START = "\u001b]javakata;session\u0007".getBytes(StandardCharsets.US_ASCII);
    private static final Pattern END = Pattern.compile(Pattern.quote(END_PREFIX) + "(-?\\d{1,3})]");

    private DebugConsoleProtocol() {
    }

    /** The line the agent sends when a shell exits with {@code status} (-1: unknown). */
    public static byte[] endLine(int status) {
        return ("\r\n" + END_PREFIX + status + "]\r\n").getBytes(StandardCharsets.US_ASCII);
    }

    /** The status in the first end line of {@code text}, if it has one. */
    public static OptionalInt endStatus(CharSequence text) {
        Matcher m = END.matcher(text);
        return m.find() ? OptionalInt.of(Integer.parseInt(m.group(1))) : OptionalInt.empty();
    }
}
