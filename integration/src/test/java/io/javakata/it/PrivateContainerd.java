package io.javakata.it;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A private containerd per test class (register it as a static {@code @RegisterExtension} field), started by
 * {@code scripts/containerd.sh} under a fresh directory in /tmp, with the busybox image
 * ({@value #IMAGE}) imported. After the class it looks for leaks (javakata shims, QEMU, virtiofsd, vhost-device-vsock, mounts
 * under its directory or under a new sandbox, new entries in {@code /run/javakata/sandboxes}), stops
 * containerd, cleans every leak up, and only then fails the class if anything had leaked.
 *
 * <p>What counts as this containerd's: processes whose command line names its directory or whose environment
 * carries its {@code TTRPC_ADDRESS}, their descendants, and sandboxes that appeared while it ran. With
 * {@code CI} set, every javakata process, mount and sandbox on the machine counts. Not thread-safe: one test
 * at a time.
 *
 * <p>A {@linkplain #node(String) node} one is a stand-in for a whole node with no Java and no javakata (scripts/
 * containerd.sh with JAVAKATA_NODE=1): containerd runs in a mount and PID namespace of its own, whose root keeps its
 * javakata state under {@link #nodeRoot()}; its sandboxes and mounts are looked for there.
 *
 * <p>It runs the system's containerd, or the containerd and ctr of another directory
 * ({@link #PrivateContainerd(String, Optional)}: another version, from scripts/containerd-versions.sh).
 */
public final class PrivateContainerd implements BeforeAllCallback, AfterAllCallback {

    public static final String IMAGE = "localhost/javakata/busybox:1";
    /** Debian's nginx, from {@link #nginxImage()}. */
    public static final String NGINX_IMAGE = "localhost/javakata/nginx:1";
    public static final String IPTABLES_IMAGE = "localhost/javakata/iptables:1";
    public static final String RUNTIME = System.getProperty("javakata.it.runtime", "io.containerd.javakata.v2");
    /** The shim's [runtime] state_dir ({@code -Djavakata.it.state=...} when a private configuration.toml moves it). */
    static final Path STATE = Path.of(System.getProperty("javakata.it.state", "/run/javakata"));
    static final Path SANDBOXES = STATE.resolve("sandboxes");
    /** Where warm shims keep their spare VMs ({@code [template] spares}; docs/architecture.md "Warm spare VMs"). */
    static final Path SPARES = STATE.resolve("spares");
    static final Path SHIM_SOCKETS = STATE.resolve("s");
    /** A pod's host processes: the shim, the VMM, virtiofsd and the hybrid vsock backend (vhost-device-vsock). */
    static final Set<String> WATCHED = Set.of("qemu-system-x86_64", "cloud-hypervisor", "virtiofsd",
            "vhost-device-vsock", "containerd-shim-javakata-v2", "javakata-shim.jar");
    /**
     * The agent transport of the {@code javakata} handler ({@code -Djavakata.it.transport}, integration/pom.xml sets
     * hybrid-vsock): scripts/containerd.sh writes it into that handler's configuration. Empty: the shim's
     * configuration as it is. The {@code javakata-serial} handler always runs virtio-serial.
     */
    public static final String TRANSPORT = System.getProperty("javakata.it.transport", "");
    private static final boolean CI = System.getenv("CI") != null;

    private final String namespace;
    private final boolean node;
    private final Optional<Path> binaries;
    private Path dir;
    private Ctr ctr;
    private Set<String> sandboxesBefore = Set.of();
    private Set<String> shimSocketsBefore = Set.of();

    public PrivateContainerd(String namespace) {
        this(namespace, Optional.empty(), false);
    }

    /** With {@code binaries}: the directory whose containerd and ctr run instead of the system's. */
    public PrivateContainerd(String namespace, Optional<Path> binaries) {
        this(namespace, binaries, false);
    }

    private PrivateContainerd(String namespace, Optional<Path> binaries, boolean node) {
        this.namespace = namespace;
        this.binaries = binaries;
        this.node = node;
    }

    /** A private containerd on a stand-in node with no Java (see the class comment). */
    public static PrivateContainerd node(String namespace) {
        return new PrivateContainerd(namespace, Optional.empty(), true);
    }

    /** The stand-in node's root (its /etc/containerd, /opt, /usr/local/bin and /run/javakata). */
    public Path nodeRoot() {
        return dir.resolve("node");
    }

    /** Runs {@code command} as root in the stand-in node's mount and PID namespaces; gives its exit code and output. */
    public Ctr.Result onNode(Duration timeout, String... command) throws IOException {
        var argv = new ArrayList<>(List.of("nsenter", "--target", nodePid(), "--mount", "--pid", "--"));
        argv.addAll(List.of(command));
        return Ctr.execute(argv, null, timeout);
    }

    private String nodePid() throws IOException {
        return Files.readString(dir.resolve("node.pid")).strip();
    }

    public Ctr ctr() {
        return ctr;
    }

    public Path dir() {
        return dir;
    }

    public Path log() {
        return dir.resolve("containerd.log");
    }

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        dir = Files.createTempDirectory(Path.of("/tmp"), "jkit-");
        sandboxesBefore = CI || node ? Set.of() : sandboxEntries();
        // Always against what was there: a socket a killed shim left before this class is not this class's leak.
        shimSocketsBefore = sandboxEntries(shimSockets());
        // scripts/containerd.sh remembers the binaries in its directory: the later actions on it need no variable.
        var env = new java.util.HashMap<String, String>();
        binaries.ifPresent(b -> env.put("JAVAKATA_CONTAINERD_BIN", b.toString()));
        if (node) {
            env.put("JAVAKATA_NODE", "1");
        }
        script(env, "containerd.sh", "start", dir.toString());
        ctr = new Ctr(binaries.map(b -> b.resolve("ctr").toString()).orElse("ctr"), dir.resolve("c.sock"), namespace);
        importImage(image());
    }

    /**
     * Stops containerd alone with SIGTERM (scripts/containerd.sh stop-daemon), as {@code systemctl stop containerd}
     * does: its directory, the shims, their VMs and the pods stay.
     */
    public void stopDaemon() throws IOException, InterruptedException {
        script("containerd.sh", "stop-daemon", dir.toString());
    }

    /** Starts containerd again on its directory (scripts/containerd.sh start-daemon) and waits until it answers. */
    public void startDaemon() throws IOException, InterruptedException {
        script("containerd.sh", "start-daemon", dir.toString());
    }

    /** Imports an OCI image archive into this containerd's namespace. */
    public void importImage(Path archive) {
        ctr.run(Duration.ofSeconds(60), "images", "import", archive.toString()).assertOk();
    }

    /**
     * Kills the warm shims waiting under this containerd's directory (scripts/containerd.sh gives it
     * JAVAKATA_WARM_DIR=DIR/warm; docs/architecture.md "Warm shims") and removes their directories, then cleans up the
     * spare VMs they held with the shim's {@code spares rm}: a pool the node keeps on purpose, not a leak, but nothing
     * may outlive the test class. Returns the pids it killed.
     */
    public List<Long> stopWarmShims() throws Exception {
        Path warm = dir.resolve("warm");
        if (!Files.isDirectory(warm)) {
            return List.of();
        }
        List<Path> dirs;
        try (Stream<Path> list = Files.list(warm)) {
            dirs = list.filter(p -> p.getFileName().toString().matches("[0-9]+")).toList();
        }
        var killed = new ArrayList<Long>();
        for (Path d : dirs) {
            long pid = Long.parseLong(d.getFileName().toString());
            ProcessHandle.of(pid).filter(p -> cmdline(pid).contains(" warm ")).ifPresent(p -> {
                p.destroyForcibly();
                killed.add(pid);
            });
            Await.until("warm shim " + pid + " gone", Duration.ofSeconds(30),
                    () -> ProcessHandle.of(pid).map(p -> !p.isAlive()).orElse(true));
            exec("rm", "-rf", d.toString());
        }
        if (Files.isDirectory(SPARES)) {
            // The spare VMs of the warm shims just killed ([template] spares): the shim's own sweep cleans them up.
            var result = Ctr.execute(List.of("containerd-shim-javakata-v2", "spares", "rm", "--state-dir",
                    STATE.toString()), null, Duration.ofSeconds(60));
            if (result.exitCode() != 0) {
                throw new AssertionError("spares rm: " + result);
            }
        }
        return killed;
    }


    /**
     * With the system property {@value #KEEP_LOG} naming a file, containerd's log (the shims' lines with it, such as
     * each pod's boot phases) is copied there before the directory goes: for the benchmarks' BENCH_LOG.
     */
    static final String KEEP_LOG = "javakata.it.keepLog";

    @Override
    public void afterAll(ExtensionContext context) throws Exception {
        String keep = System.getProperty(KEEP_LOG, "");
        if (!keep.isEmpty() && Files.exists(log())) {
            Files.copy(log(), Path.of(keep), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        stopWarmShims();
        // A shim exits a moment after containerd's Shutdown, which follows `ctr run --rm`'s return: give it time.
        List<String> leaks = leaksAfter(Duration.ofSeconds(15));
        List<Long> pids = ownedPids(true);
        script("containerd.sh", "stop", dir.toString());
        for (long pid : pids) {
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        }
        for (String entry : newSandboxes()) {
            Path sandbox = sandboxes().resolve(entry);
            for (String mount : mountsUnder(sandbox)) {
                exec("umount", "-l", mount);
            }
            exec("rm", "-rf", sandbox.toString());
        }
        for (String socket : newShimSockets()) {
            Files.deleteIfExists(shimSockets().resolve(socket));
        }
        if (!leaks.isEmpty()) {
            throw new AssertionError("the private containerd's tests leaked (now cleaned up):\n  "
                    + String.join("\n  ", leaks));
        }
    }

    /**
     * What is left of this containerd's sandboxes right now: javakata processes, mounts, sandbox entries. Empty
     * when nothing runs.
     */
    public List<String> leaks() throws IOException {
        var leaks = new ArrayList<String>();
        for (long pid : ownedPids(false)) {
            leaks.add("process " + pid + ": " + cmdline(pid));
        }
        for (String mount : mountsUnder(dir)) {
            leaks.add("mount " + mount);
        }
        if (node) {
            // The node's mounts are in its own namespace, where its state directory is /run/javakata.
            Path mountinfo = Path.of("/proc", nodePid(), "mountinfo");
            if (Files.exists(mountinfo)) {
                for (String mount : mountsUnder(dir, mountinfo)) {
                    leaks.add("mount " + mount + " (node namespace)");
                }
                for (String mount : mountsUnder(Path.of("/run/javakata/sandboxes"), mountinfo)) {
                    leaks.add("mount " + mount + " (node namespace)");
                }
            }
        }
        for (String entry : newSandboxes()) {
            leaks.add("sandbox state " + sandboxes().resolve(entry));
            for (String mount : mountsUnder(sandboxes().resolve(entry))) {
                leaks.add("mount " + mount);
            }
        }
        if (Files.isDirectory(SPARES)) {
            try (Stream<Path> list = Files.list(SPARES)) {
                for (Path spare : list.toList()) {
                    leaks.add("spare VM state " + spare);
                    for (String mount : mountsUnder(spare)) {
                        leaks.add("mount " + mount);
                    }
                }
            }
        }
                // A shim's socket stays when it was killed, until containerd's `delete` of its task removes it.
        for (String socket : newShimSockets()) {
            leaks.add("shim socket " + shimSockets().resolve(socket));
        }
        // CRI pods: their network namespaces (netns_mounts_under_state_dir) and the host ends of their veth pairs.
        Path netns = dir.resolve("state/io.containerd.grpc.v1.cri/netns");
        if (Files.isDirectory(netns)) {
            try (Stream<Path> list = Files.list(netns)) {
                list.forEach(n -> leaks.add("pod network namespace " + n));
            }
        }
        Path ports = Path.of("/sys/class/net", bridge(), "brif");
        if (Files.isDirectory(ports)) {
            try (Stream<Path> list = Files.list(ports)) {
                list.forEach(port -> leaks.add("interface " + port.getFileName() + " on the CNI bridge " + bridge()));
            }
        }
        return leaks;
    }

    /** This containerd's running processes whose command line contains {@code name} (e.g. "qemu-system-x86_64"). */
    public List<Long> processes(String name) throws IOException {
        return ownedPids(true).stream().filter(pid -> cmdline(pid).contains(name)).toList();
    }

    /** {@link #processes} of sandbox {@code sandboxId}'s VM: those whose command line names its state directory. */
    public List<Long> processesOf(String name, String sandboxId) throws IOException {
        String sandbox = sandboxDir(sandboxId) + "/";
        return processes(name).stream().filter(pid -> cmdline(pid).contains(sandbox)).toList();
    }

    /**
     * Whether pod {@code sandboxId}'s VM was restored from a VM template (its QEMU started with {@code -incoming})
     * rather than booted: a restored guest's console and timeline begin where the template's boot ended.
     */
    public boolean restored(String sandboxId) throws IOException {
        List<Long> qemu = processesOf("qemu-system-x86_64", sandboxId);
        if (qemu.size() != 1) {
            throw new AssertionError("not one QEMU for sandbox " + sandboxId + ": " + qemu);
        }
        return cmdline(qemu.getFirst()).contains(" -incoming ");
    }

    /** {@link #leaks()} once it is empty, or the last non-empty list after {@code timeout}. */
    public List<String> leaksAfter(Duration timeout) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        List<String> leaks = leaks();
        while (!leaks.isEmpty() && System.nanoTime() < deadline) {
            TimeUnit.MILLISECONDS.sleep(200);
            leaks = leaks();
        }
        return leaks;
    }

    /** The CNI bridge of this containerd's pod network (scripts/containerd.sh names it after the directory). */
    public String bridge() {
        return "jk" + sha256(dir.toString()).substring(0, 10);
    }

    /** The host state directory of sandbox {@code sandboxId} in this namespace (docs/architecture.md "Paths"). */
    public Path sandboxDir(String sandboxId) {
        return SANDBOXES.resolve(sha256(namespace + "/" + sandboxId).substring(0, 32));
    }

    /** The socket of the shim that serves task {@code id} (docs/architecture.md "Paths"). */
    public Path shimSocket(String id) {
        return SHIM_SOCKETS.resolve(sha256(ctr.socket() + "/" + namespace + "/" + id));
    }

    /** containerd's bundle directory of task {@code id}. */
    public Path bundle(String id) {
        return dir.resolve("state/io.containerd.runtime.v2.task").resolve(namespace).resolve(id);
    }

    private Path sandboxes() {
        return node ? nodeRoot().resolve("run/javakata/sandboxes") : SANDBOXES;
    }

    private Path shimSockets() {
        return node ? nodeRoot().resolve("run/javakata/s") : SHIM_SOCKETS;
    }

    /** Shim sockets that appeared since this containerd started. */
    private Set<String> newShimSockets() throws IOException {
        var entries = new TreeSet<>(sandboxEntries(shimSockets()));
        entries.removeAll(shimSocketsBefore);
        return entries;
    }

    private Set<String> newSandboxes() throws IOException {
        if (node) {
            return sandboxEntries(sandboxes());
        }
        var entries = new TreeSet<>(sandboxEntries());
        entries.removeAll(sandboxesBefore);
        return entries;
    }

    private static Set<String> sandboxEntries() throws IOException {
        return sandboxEntries(SANDBOXES);
    }

    private static Set<String> sandboxEntries(Path sandboxes) throws IOException {
        if (!Files.isDirectory(sandboxes)) {
            return Set.of();
        }
        try (Stream<Path> list = Files.list(sandboxes)) {
            return list.map(p -> p.getFileName().toString()).collect(TreeSet::new, Set::add, Set::addAll);
        }
    }

    /** Watched processes that are this containerd's (all of them, with {@code any}, or under CI). */
    private List<Long> ownedPids(boolean any) throws IOException {
        var roots = new TreeSet<Long>();
        var sandboxes = newSandboxes().stream().map(e -> sandboxes().resolve(e).toString()).toList();
        ProcessHandle.allProcesses().forEach(p -> {
            String cmd = cmdline(p.pid());
            if (cmd.contains(dir + "/") || sandboxes.stream().anyMatch(cmd::contains)
                    || environ(p.pid()).contains("TTRPC_ADDRESS=" + dir.resolve("c.sock.ttrpc"))) {
                roots.add(p.pid());
            }
        });
        var owned = new TreeSet<Long>();
        for (long root : roots) {
            ProcessHandle.of(root).ifPresent(h -> {
                owned.add(h.pid());
                h.descendants().forEach(d -> owned.add(d.pid()));
            });
        }
        ProcessHandle.allProcesses().filter(p -> CI && watched(p.pid())).forEach(p -> owned.add(p.pid()));
        owned.remove(ProcessHandle.current().pid());
        return owned.stream().filter(pid -> any || watched(pid)).toList();
    }

    /**
     * Whether one of {@code pid}'s arguments names a {@link #WATCHED} program: the executable itself (QEMU), the
     * script bash runs (the shim's launcher) or the jar java runs. A whole argument, not a substring of the command
     * line: a shell whose {@code -c} script merely mentions the shim (make test's recipe) is not a pod's process.
     */
    static boolean watched(long pid) {
        return watchedArgv(readProc(pid, "cmdline"));
    }

    static boolean watchedArgv(String nulSeparatedArgv) {
        for (String arg : nulSeparatedArgv.split("\0")) {
            if (WATCHED.contains(arg.substring(arg.lastIndexOf('/') + 1))) {
                return true;
            }
        }
        return false;
    }

    static List<String> mountsUnder(Path path) throws IOException {
        return mountsUnder(path, Path.of("/proc/self/mountinfo"));
    }

    private static List<String> mountsUnder(Path path, Path mountinfo) throws IOException {
        String prefix = path + "/";
        var mounts = new ArrayList<String>();
        for (String line : Files.readAllLines(mountinfo)) {
            String point = line.split(" ")[4].replace("\\040", " ");
            if (point.startsWith(prefix) || point.equals(path.toString())) {
                mounts.add(point);
            }
        }
        mounts.sort((a, b) -> b.length() - a.length());
        return mounts;
    }

    /**
     * A pod's network namespace on the host, as CRI made it: the one of this containerd's whose interfaces hold
     * {@code podIp}. Not the namespace of the pod's QEMU: a restored pod's QEMU runs in one of its own.
     */
    public Path podNetns(String podIp) throws IOException {
        try (java.util.stream.Stream<Path> files = Files.list(dir().resolve("state/io.containerd.grpc.v1.cri/netns"))) {
            for (Path ns : files.toList()) {
                if (Ctr.execute(List.of("nsenter", "--net=" + ns, "ip", "-4", "addr"), null, Duration.ofSeconds(30))
                        .assertOk().stdout().contains(podIp + "/")) {
                    return ns;
                }
            }
        }
        throw new IOException("no network namespace of " + dir() + " holds " + podIp);
    }

    static String cmdline(long pid) {
        return readProc(pid, "cmdline").replace('\0', ' ').strip();
    }

    private static String environ(long pid) {
        return readProc(pid, "environ").replace('\0', '\n');
    }

    private static String readProc(long pid, String file) {
        try {
            return Files.readString(Path.of("/proc", Long.toString(pid), file), StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            return ""; // gone, or not readable: not ours
        }
    }

    /** The busybox image archive, built once per run by scripts/build-busybox-image.sh. */
    private static Path image() throws IOException, InterruptedException {
        return imageArchive("busybox.tar", IMAGE, false);
    }

    /**
     * An image archive from scripts/build-busybox-image.sh (with {@code --pause} if {@code pause}), built once per
     * run under the IT work directory as {@code fileName}.
     */
    static synchronized Path imageArchive(String fileName, String ref, boolean pause) throws IOException, InterruptedException {
        return pause ? imageArchive(fileName, "build-busybox-image.sh", "--pause", ref)
                : imageArchive(fileName, "build-busybox-image.sh", ref);
    }

    /**
     * The nginx image archive ({@value #NGINX_IMAGE}: Debian's nginx package, scripts/build-nginx-image.sh), built
     * once per run; its .deb files are kept beside it.
     */
    static Path nginxImage() throws IOException, InterruptedException {
        return imageArchive("nginx.tar", "build-nginx-image.sh", NGINX_IMAGE);
    }

    /**
     * The iptables image archive ({@value #IPTABLES_IMAGE}: Debian's iptables with busybox,
     * scripts/build-iptables-image.sh), built once per run; its .deb files are kept beside it.
     */
    static Path iptablesImage() throws IOException, InterruptedException {
        return imageArchive("iptables.tar", "build-iptables-image.sh", IPTABLES_IMAGE);
    }

    /** Runs {@code scripts/<script> [options...] <archive> <ref>} unless the archive was built already. */
    private static synchronized Path imageArchive(String fileName, String script, String... optionsAndRef)
            throws IOException, InterruptedException {
        Path image = Path.of(System.getProperty("javakata.it.work", "target/it")).toAbsolutePath().resolve(fileName);
        if (!Files.exists(image)) {
            Files.createDirectories(image.getParent());
            var args = new ArrayList<>(List.of(optionsAndRef));
            args.add(args.size() - 1, image.toString());
            script(script, args.toArray(String[]::new));
        }
        return image;
    }

    private static void script(String name, String... args) throws IOException, InterruptedException {
        script(Map.of(), name, args);
    }

    /** Runs {@code scripts/<name> args...} with {@code env} added to this JVM's environment. */
    static void script(Map<String, String> env, String name, String... args) throws IOException, InterruptedException {
        var command = new ArrayList<String>(List.of(repo().resolve("scripts").resolve(name).toString()));
        command.addAll(List.of(args));
        exec(env, command.toArray(String[]::new));
    }

    /** The repository the tests run from. */
    static Path repo() {
        return Path.of(System.getProperty("javakata.repo", "..")).toAbsolutePath().normalize();
    }

    /**
     * Runs {@code command}, killed with what it started after 120 s. Its output goes to a file read after the exit: a
     * pipe read first would hold this thread past the timeout for as long as the command, or a daemon it started,
     * keeps it open.
     */
    static void exec(String... command) throws IOException, InterruptedException {
        exec(Map.of(), command);
    }

    private static void exec(Map<String, String> env, String... command) throws IOException, InterruptedException {
        Path output = Files.createTempFile("jkit-exec", ".out");
        try {
            var builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile());
            builder.environment().putAll(env);
            if (!TRANSPORT.isBlank()) {
                builder.environment().put("JAVAKATA_TRANSPORT", TRANSPORT);
            }
            Process p = builder.start();
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                throw new IOException(String.join(" ", command) + ": still running after 120 s; killed");
            }
            if (p.exitValue() != 0) {
                throw new IOException(String.join(" ", command) + ": exit code " + p.exitValue() + "\n"
                        + Files.readString(output, StandardCharsets.UTF_8));
            }
        } finally {
            Files.deleteIfExists(output);
        }
    }

    static String sha256(String text) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every JDK", e);
        }
    }
}
