package io.javakata.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Issue 12 item 2 on containerd 2.x: the release's installer wires javakata into a node whose containerd is 2.1
 * (Debian unstable's, scripts/containerd-versions.sh) with a version 3 configuration, where CRI's runtime plugin is
 * {@code io.containerd.cri.v1.runtime} and {@code containerd config dump} writes its tables with literal-string keys.
 * DistIT does the same on the system's containerd 1.6 (version 2) and runs a pod on what it installed;
 * ContainerdVersionsIT runs pods on 2.1. Here: install (drop-in, imports line, check, restart through
 * scripts/containerd.sh, CRI back), the runtime in the dump with its ConfigPath, then uninstall leaves the
 * configuration byte for byte as it was and removes every directory install made.
 */
@Tag("containerd")
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class InstallerV3IT {

    private static final String HANDLER = "javakata-installed";

    @Test
    void installsIntoAVersion3ConfigurationAndUninstallsWithoutATrace() throws Exception {
        Path repo = PrivateContainerd.repo();
        String line = Ctr.execute(List.of(repo.resolve("scripts/containerd-versions.sh").toString(), "unstable"), null,
                Duration.ofMinutes(5)).assertOk().stdout().lines().filter(l -> l.startsWith("unstable ")).findFirst()
                .orElseThrow(() -> new AssertionError("containerd-versions.sh printed no line for unstable"));
        Path binaries = Path.of(line.split(" ")[2]);
        var containerd = new PrivateContainerd("jkit", Optional.of(binaries));
        containerd.beforeAll(null);
        try {
            Path dir = containerd.dir();
            Path config = dir.resolve("config.toml");
            assertTrue(Files.readString(config).contains("version = 3"), "scripts/containerd.sh writes version 3 for 2.x");
            byte[] before = Files.readAllBytes(config);
            Path release = unpackRelease(repo, dir);

            Path prefix = dir.resolve("node/opt/javakata");
            Path binDir = dir.resolve("node/bin");
            Path dropIn = dir.resolve("node/conf.d/javakata.toml");
            String script = repo.resolve("scripts/containerd.sh").toString();
            List<String> args = List.of("--handler", HANDLER, "--prefix", prefix.toString(), "--bin-dir", binDir.toString(),
                    "--containerd-config", config.toString(), "--drop-in", dropIn.toString(), "--containerd-socket",
                    dir.resolve("c.sock").toString(), "--timeout", "60", "--restart-cmd",
                    script + " stop-daemon " + dir + " && " + script + " start-daemon " + dir);

            installer(binaries, release, "install", args).assertOk();
            assertTrue(Files.readString(config).contains("imports = [\"" + dropIn + "\"]"), Files.readString(config));
            String dump = Ctr.execute(List.of(binaries.resolve("containerd").toString(), "--config", config.toString(),
                    "config", "dump"), null, Duration.ofSeconds(30)).assertOk().stdout();
            String table = "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes." + HANDLER + "]";
            assertTrue(dump.contains(table), "the dump shows the runtime:\n" + dump);
            assertTrue(dump.contains("ConfigPath = '" + prefix.resolve("etc/configuration.toml") + "'")
                    || dump.contains("ConfigPath = \"" + prefix.resolve("etc/configuration.toml") + "\""), dump);
            // The node's runc runtime and sandbox image survive the import (containerd replaces a plugin's section).
            assertTrue(dump.contains("containerd.runtimes.runc]") && dump.contains("localhost/javakata/pause:1"), dump);
            assertTrue(Files.isSymbolicLink(binDir.resolve("containerd-shim-javakata-v2")));

            // --force: the installed configuration's state_dir is the default /run/javakata, where this machine's own
            // javakata pods (other tests') live; uninstall refuses while any runs, which is not what this test is about.
            var uninstall = new java.util.ArrayList<>(args);
            uninstall.add("--force");
            installer(binaries, release, "uninstall", uninstall).assertOk();
            assertArrayEquals(before, Files.readAllBytes(config), "uninstall puts the configuration back byte for byte");
            for (Path made : List.of(prefix, binDir, dropIn.getParent())) {
                assertFalse(Files.exists(made), made + " is left after uninstall");
            }
        } finally {
            containerd.afterAll(null); // fails the test if anything leaked
        }
    }

    private static Ctr.Result installer(Path binaries, Path release, String action, List<String> args) {
        var command = new java.util.ArrayList<String>(List.of("env", "PATH=" + binaries + ":" + System.getenv("PATH"),
                release.resolve("bin/javakata-install").toString(), action));
        command.addAll(args);
        Ctr.Result result = Ctr.execute(command, null, Duration.ofMinutes(3));
        System.out.println("javakata-install " + action + " (exit " + result.exitCode() + "):\n" + result.stderr());
        return result;
    }

    private static Path unpackRelease(Path repo, Path dir) throws Exception {
        Path archive;
        try (Stream<Path> files = Files.list(repo.resolve("build/dist"))) {
            List<Path> archives = files.filter(p -> p.getFileName().toString().endsWith("-linux-amd64.tar.gz")).toList();
            assertEquals(1, archives.size(), "one release archive in build/dist (make dist): " + archives);
            archive = archives.get(0);
        }
        Path unpacked = Files.createDirectories(dir.resolve("release"));
        Ctr.execute(List.of("tar", "-xzf", archive.toString(), "-C", unpacked.toString()), null, Duration.ofSeconds(120))
                .assertOk();
        try (Stream<Path> top = Files.list(unpacked)) {
            return top.findFirst().orElseThrow();
        }
    }
}
