package io.javakata.guest.stdio;

import java.nio.file.Path;

/**
 * What the OCI runtime's own stdio is while it starts a process: without a terminal the process inherits it
 * (runc and crun pass it through); with one, the runtime sends the pty master to {@code consoleSocket}.
 *
 * @param consoleSocket the {@code --console-socket} path, or null for a process without a terminal
 */
public record RuntimeStdio(ProcessBuilder.Redirect stdin, ProcessBuilder.Redirect stdout,
                           ProcessBuilder.Redirect stderr, Path consoleSocket) {
}
