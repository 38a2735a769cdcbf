package io.javakata.sys;

import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** iproute2 for tests that set up or read back network namespaces: fails the test unless it exits 0 within 10 s. */
final class IpCommand {

    private IpCommand() {
    }

    /** Runs {@code ip ARGS…} and returns its output (stdout and stderr). */
    static String ip(String... args) throws Exception {
        String[] argv = new String[args.length + 1];
        argv[0] = "ip";
        System.arraycopy(args, 0, argv, 1, args.length);
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0, String.join(" ", argv) + ": " + out);
        return out;
    }
}
