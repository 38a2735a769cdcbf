package io.javakata.guest.debug;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import io.javakata.debugconsole.DebugConsoleProtocol;
import io.javakata.guest.reaper.Reaper;
import io.javakata.sys.ErrnoException;
import io.javakata.sys.Fds;
import io.javakata.sys.Signals;
import io.javakata.sys.Terminals;

/**
 * One shell of the {@link DebugConsole}: {@code /bin/sh -l} in a session of its own whose controlling terminal is
 * the slave of a fresh pseudo-terminal; the agent holds the master. A thread copies the master to the host
 * until the shell and everything it started have closed the terminal, then sends the end line.
 *
 * <p>When the shell exits, whatever else of its session still runs is killed (the terminal then closes and the
 * copier ends); when the host goes away, the whole session is killed.
 *
 * <p>The shell opens its terminal itself ({@code setsid sh -c 'exec sh -l <>/dev/pts/N ...'}): a session leader
 * that opens a terminal gets it as its controlling terminal, and the agent never opens the slave, so the agent
 * never gets a controlling terminal.
 */
final class DebugShell {

    private static final System.Logger LOG = System.getLogger(DebugShell.class.getName());
    /** How long a shell whose terminal closed may take to be reaped before its status is reported unknown. */
    private static final long EXIT_WAIT_SECONDS = 5;
    /** The guest image's busybox, which has the setsid applet. */
    private static final String BUSYBOX = "/bin/busybox";

    private final int master;
    private final Process process;
    private final Path procRoot;
    private final OutputStream toShell;
    private volatile boolean ended;
    /** The host went away: the end line would reach the next host, which never had this shell. */
    private volatile boolean hungUp;

    private DebugShell(int master, Process process, Path procRoot) {
        this.master = master;
        this.process = process;
        this.procRoot = procRoot;
        this.toShell = Terminals.output(master);
    }

    /** Opens a pseudo-terminal, starts the shell on it, and starts copying its output to {@code toHost}. */
    static DebugShell start(Reaper reaper, Path ptmx, OutputStream toHost) throws IOException {
        int master = Fds.open(ptmx, Fds.O_RDWR | Fds.O_NOCTTY | Fds.O_CLOEXEC, 0);
        Process process;
        try {
            int slave = Terminals.unlockSlave(master);
            Path pts = ptmx.resolveSibling(Integer.toString(slave));
            ProcessBuilder builder = new ProcessBuilder(BUSYBOX, "setsid", "/bin/sh", "-c",
                    "exec /bin/sh -l <>" + pts + " >&0 2>&0")
                    .redirectInput(new File("/dev/null"))
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .redirectErrorStream(true)
                    .directory(new File("/"));
            builder.environment().clear();
            builder.environment().put("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
            builder.environment().put("HOME", "/");
            builder.environment().put("TERM", "linux");
            builder.environment().put("PS1", "javakata-guest:\\w# ");
            process = reaper.start(builder);
        } catch (IOException | RuntimeException e) {
            Fds.close(master);
            throw e;
        }
        LOG.log(Level.WARNING, "msg=\"debug console: shell started\" pid={0}", process.pid());
        DebugShell shell = new DebugShell(master, process, Path.of("/proc"));
        // Once the shell exits, whatever it left in its session goes too, so the terminal closes.
        process.onExit().thenRun(() -> killSession(shell.procRoot, (int) process.pid()));
        Thread.ofPlatform().daemon().name("debug-shell-" + process.pid()).start(() -> shell.copyOut(toHost));
        return shell;
    }

    /** Whether the shell's terminal has closed (the next input starts a new shell). */
    boolean ended() {
        return ended;
    }

    /** Sends what the host typed to the shell's terminal. */
    void write(byte[] bytes, int offset, int length) throws IOException {
        if (!ended) {
            toShell.write(bytes, offset, length);
        }
    }

    /** Ends the shell's session because its operator went away; the copier then finishes. */
    void hangUp() {
        hungUp = true;
        killSession(procRoot, (int) process.pid());
    }

    /**
     * SIGKILLs every process of session {@code sid} (field 6 of {@code /proc/PID/stat}): what the shell left
     * running still holds the terminal, and the copier ends only when the last holder is gone.
     */
    static int killSession(Path proc, int sid) {
        int killed = 0;
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(proc, "[0-9]*")) {
            for (Path entry : entries) {
                if (sessionOf(entry.resolve("stat")) == sid) {
                    try {
                        Signals.kill(Integer.parseInt(entry.getFileName().toString()), Signals.SIGKILL);
                        killed++;
                    } catch (ErrnoException e) {
                        // gone already
                    }
                }
            }
        } catch (IOException e) {
            LOG.log(Level.WARNING, "msg=\"debug console: list {0}: {1}\"", proc, e.getMessage());
        }
        return killed;
    }

    /** The session id in a /proc/PID/stat file, or -1 if it cannot be read (fields counted after the last ')'). */
    static int sessionOf(Path stat) {
        try {
            String line = Files.readString(stat, StandardCharsets.US_ASCII);
            String[] fields = line.substring(line.lastIndexOf(')') + 2).split(" ");
            return Integer.parseInt(fields[3]);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    private void copyOut(OutputStream toHost) {
        InputStream fromShell = Terminals.input(master);
        byte[] buffer = new byte[4096];
        try {
            int n;
            while ((n = fromShell.read(buffer)) >= 0) {
                toHost.write(buffer, 0, n);
            }
        } catch (IOException e) {
            LOG.log(Level.DEBUG, "msg=\"debug console: copy: {0}\"", e.getMessage());
        }
        ended = true;
        int status = -1;
        try {
            if (process.waitFor(EXIT_WAIT_SECONDS, TimeUnit.SECONDS)) {
                status = process.exitValue();
            } else {
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Fds.close(master);
        LOG.log(Level.WARNING, "msg=\"debug console: shell exited\" pid={0} status={1}", process.pid(), status);
        if (hungUp) {
            return;
        }
        try {
            toHost.write(DebugConsoleProtocol.endLine(status));
        } catch (IOException e) {
            LOG.log(Level.DEBUG, "msg=\"debug console: end line: {0}\"", e.getMessage());
        }
    }
}
