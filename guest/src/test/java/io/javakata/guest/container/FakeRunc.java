package io.javakata.guest.container;

import java.nio.file.Files;
import java.nio.file.Path;

import io.javakata.guest.ReaperLoop;

/**
 * fake-runc.sh (test resources) as the OCI runtime of a {@link ContainerManager}, with the test JVM a child
 * subreaper running the reaper loop, as the agent is in the guest: real FIFOs, a real subreaper, real exit
 * statuses; only runc's namespaces are missing. Register it as a static extension; each test asks it for a manager
 * on its own temporary directory.
 */
public final class FakeRunc extends ReaperLoop {

    public FakeRunc() {
        // The fake container init is orphaned when fake runc exits; as in the guest, it must become
        // our child so that the reaper collects its status.
        super(true);
    }

    /**
     * A manager whose runc is a fresh copy of fake-runc.sh in {@code dir} (bundles and runc state go there too),
     * reading processes under {@code proc} and cgroups under {@code cgroup}.
     */
    public ContainerManager manager(Path dir, Path proc, Path cgroup) throws Exception {
        Path fake = dir.resolve("runc");
        Files.copy(Path.of(FakeRunc.class.getResource("/fake-runc.sh").toURI()), fake);
        fake.toFile().setExecutable(true);
        return new ContainerManager(dir.resolve("bundles"), new OciCli(fake, dir.resolve("state"), reaper()), reaper(),
                proc, cgroup);
    }
}
