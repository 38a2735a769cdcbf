package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 8 item 7, the short soak of {@code make test} (scripts/soak.sh runs the long one): {@value #SEQUENTIAL} pods
 * one after another and {@value #CONCURRENT} at once, each with a container, two ExecSyncs, StopPodSandbox and
 * RemovePodSandbox within its deadline ({@link Soak}); afterwards nothing of any pod is left on the host and
 * containerd's open descriptors are back to their count before the first pod; each shim's descriptors do not grow
 * from exec to exec.
 */
@Tag("containerd")
@Tag("qemu")
@Tag("cri")
@Timeout(value = 600, unit = TimeUnit.SECONDS)
class SoakIT {

    static final int SEQUENTIAL = 2;
    static final int CONCURRENT = 2;

    @RegisterExtension
    static final PrivateCri CRI = new PrivateCri();

    @Test
    void podsComeAndGoWithoutLeaks() throws Exception {
        Soak.Report report = Soak.withProperties(CRI, CONCURRENT, System.out::println).run(SEQUENTIAL, CONCURRENT);
        System.out.println(report.summary());
        assertEquals(SEQUENTIAL + CONCURRENT, report.pods().size(), report::summary);
        assertTrue(report.failed().isEmpty(), report::summary);
        assertTrue(report.hostLeaks().isEmpty(), report::summary);
        assertEquals(report.before().fdCount(), report.after().fdCount(),
                () -> "containerd's open descriptors are not back: " + report.after().fdChangeSince(report.before()));
    }
}
