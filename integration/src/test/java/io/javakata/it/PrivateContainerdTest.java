package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Which host processes the leak check takes for a pod's (PrivateContainerd.watchedArgv). */
class PrivateContainerdTest {

    private static String argv(String... args) {
        return String.join("\0", args) + "\0";
    }

    @Test
    void aPodsProcessesAreWatchedByTheProgramTheyRun() {
        assertTrue(PrivateContainerd.watchedArgv(argv("/usr/bin/qemu-system-x86_64", "-name", "sandbox-1")));
        assertTrue(PrivateContainerd.watchedArgv(argv("/usr/libexec/virtiofsd", "--socket-path=/run/x.sock")));
        assertTrue(PrivateContainerd.watchedArgv(argv("/bin/bash", "/usr/local/bin/containerd-shim-javakata-v2",
                "-namespace", "k8s.io", "start")));
        assertTrue(PrivateContainerd.watchedArgv(argv("/usr/share/javakata/jre/bin/java", "-Xmx96m", "-jar",
                "/usr/share/javakata/javakata-shim.jar", "-id", "pod1", "start")));
    }

    @Test
    void aShellWhoseScriptMerelyNamesTheShimIsNotAPodsProcess() {
        // make test's recipe: killing it as a leak killed the CI run that started the tests
        assertFalse(PrivateContainerd.watchedArgv(argv("/bin/bash", "-euo", "pipefail", "-c",
                "rc=0; mvn -B verify || rc=$?; /usr/local/bin/containerd-shim-javakata-v2 template rm"
                        + " --state-dir /run/javakata || { [ $rc -ne 0 ] || rc=1; }; exit $rc")));
        assertFalse(PrivateContainerd.watchedArgv(argv("grep", "qemu-system-x86_64 -name")));
        assertFalse(PrivateContainerd.watchedArgv(""));
    }
}
