package io.javakata.hypervisor.qemu;

import io.javakata.hypervisor.ChildProcesses;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Connects to a QMP socket that a just-launched QEMU has not necessarily created yet: retries with
 * backoff until a deadline, and gives up at once if QEMU exits meanwhile.
 */
final class QmpConnector {

    private static final long MAX_BACKOFF_MILLIS = 100;

    private QmpConnector() {
    }

    /**
     * @throws IOException naming the attempts and the last error, or QEMU's exit code if it died;
     *                     the caller adds QEMU's log
     */
    static QmpClient connect(Path socket, Process qemu, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        long backoff = 5;
        int attempts = 0;
        IOException last = null;
        while (true) {
            if (!qemu.isAlive()) {
                throw new IOException("QEMU exited with code " + qemu.exitValue() + " before QMP answered on "
                        + socket);
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new IOException("QMP on " + socket + " did not answer within " + timeout + " (" + attempts
                        + " attempts, last error: " + (last == null ? "none" : last.getMessage()) + ")");
            }
            attempts++;
            try {
                return QmpClient.connect(socket, Duration.ofNanos(left));
            } catch (IOException e) {
                last = e;
            }
            // Returns early if QEMU exits, so a failed launch is reported without waiting out the backoff.
            ChildProcesses.awaitExit(qemu.toHandle(), Duration.ofMillis(Math.min(backoff, left / 1_000_000 + 1)));
            backoff = Math.min(backoff * 2, MAX_BACKOFF_MILLIS);
        }
    }
}
