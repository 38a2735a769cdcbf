package io.javakata.guest;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.TimeUnit;

import io.javakata.guest.container.ContainerManager;
import io.javakata.guest.container.OciCli;
import io.javakata.guest.debug.DebugConsole;
import io.javakata.guest.reaper.BoundedCommand;
import io.javakata.guest.reaper.Reaper;
import io.javakata.guest.reaper.SystemChildWaiter;
import io.javakata.guest.rpc.AgentChannelParam;
import io.javakata.guest.rpc.AgentPort;
import io.javakata.guest.network.NetworkService;
import io.javakata.guest.stats.GuestStatsService;
import io.javakata.guest.rpc.AgentService;
import io.javakata.sys.Processes;
import io.javakata.sys.VsockListener;
import io.javakata.ttrpc.transport.Connection;
import io.javakata.ttrpc.TtrpcServer;
import io.javakata.ttrpc.transport.DeviceConnection;

/**
 * The guest agent: PID 1 of the VM (exec'd by /init), or a child subreaper when started otherwise.
 * Serves {@code javakata.agent.v1.Agent} on the virtio-serial port named {@code agent0}, or on an AF_VSOCK port when
 * the kernel command line names one ({@link AgentChannelParam}); when the host disconnects, it serves the next
 * connection.
 */
public final class Main {

    private static final System.Logger LOG = System.getLogger(Main.class.getName());
    private static final String PORT_NAME = "agent0";
    private static final Path RUN = Path.of("/run/javakata");
    /** The guest's OCI runtime, which guest/image/build.sh puts there. */
    static final String OCI_RUNTIME = "/usr/sbin/crun";
    /** How long the agent waits for its port to appear before giving up (the VM then powers off). */
    private static final long PORT_WAIT_MILLIS = 60_000;
    private static final long RECONNECT_BACKOFF_MILLIS = 100;
    private static final Duration POWEROFF_TIMEOUT = Duration.ofSeconds(10);

    private Main() {
    }

    public static void main(String[] args) {
        // Every child of the agent, poweroff included, starts through this one reaper (see Reaper).
        Reaper reaper = new Reaper(new SystemChildWaiter(), Clock.systemUTC());
        try {
            if (args.length == 1 && args[0].equals("--train")) {
                Training.run();
                return;
            }
            run(reaper);
        } catch (Exception | Error e) {
            LOG.log(Level.ERROR, "msg=\"agent failed\"", e);
            powerOffIfInit(reaper);
            System.exit(1);
        }
    }

    /**
     * As PID 1 the agent's death would panic the kernel; power the VM off cleanly instead, so it
     * does not linger (busybox poweroff -f calls reboot(RB_POWER_OFF) at once).
     */
    private static void powerOffIfInit(Reaper reaper) {
        if (Processes.pid() != 1) {
            return;
        }
        try {
            BoundedCommand.run(reaper, new ProcessBuilder("/sbin/poweroff", "-f").inheritIO(), POWEROFF_TIMEOUT,
                    "poweroff -f");
        } catch (IOException e) {
            LOG.log(Level.ERROR, "msg=\"poweroff: {0}\"", e.getMessage());
        }
    }

    private static void run(Reaper reaper) throws Exception {
        long started = System.nanoTime();
        if (Processes.pid() != 1) {
            Processes.setChildSubreaper();
        }
        reaper.startLoop();
        Files.createDirectories(RUN.resolve("bundles"));
        Path runtimeBinary = Path.of(System.getProperty("javakata.oci-runtime", OCI_RUNTIME));
        OciCli runtime = new OciCli(runtimeBinary, Path.of("/run/crun"), reaper);
        ContainerManager containers = new ContainerManager(RUN.resolve("bundles"), runtime, reaper);
        String version = Optional.ofNullable(Main.class.getPackage().getImplementationVersion()).orElse("dev");
        NetworkService network = NetworkService.system();
        AgentService service = new AgentService(containers, version, Path.of("/proc/sys"), network::warmUp);
        try (TtrpcServer server = new TtrpcServer("agent")) {
            service.register(server);
            network.register(server);
            new GuestStatsService(Path.of("/proc")).register(server);
            OptionalInt vsockPort = AgentChannelParam.vsockPort(Files.readString(Path.of("/proc/cmdline")));
            // Only a host whose configuration turns the debug console on adds its port.
            DebugConsole.startWhenPortAppears(Path.of("/sys/class/virtio-ports"), Path.of("/dev"), reaper,
                    Path.of("/dev/pts/ptmx"));
            if (vsockPort.isPresent()) {
                try (VsockListener listener = awaitVsock(vsockPort.getAsInt())) {
                    ready(version, "vsock:" + vsockPort.getAsInt(), started);
                    serveForever(server, listener);
                }
            } else {
                Path device = awaitPort();
                ready(version, device.toString(), started);
                serveForever(server, device);
            }
        }
    }

    private static void ready(String version, String channel, long started) {
        LOG.log(Level.INFO, "msg=\"agent ready\" version={0} pid={1} port={2} startup_millis={3} uptime={4}",
                version, Processes.pid(), channel, (System.nanoTime() - started) / 1_000_000, uptime());
    }

    /** Seconds since the guest kernel booted, for start-up figures. */
    private static String uptime() {
        try {
            return Files.readString(Path.of("/proc/uptime")).split(" ")[0] + "s";
        } catch (IOException e) {
            return "unknown";
        }
    }

    private static Path awaitPort() throws IOException, InterruptedException {
        long deadline = System.currentTimeMillis() + PORT_WAIT_MILLIS;
        int attempts = 0;
        while (true) {
            attempts++;
            Optional<Path> port = AgentPort.find(Path.of("/sys/class/virtio-ports"), Path.of("/dev"), PORT_NAME);
            if (port.isPresent() && Files.exists(port.get())) {
                return port.get();
            }
            if (System.currentTimeMillis() > deadline) {
                throw new IOException("virtio-serial port " + PORT_NAME + " not found under /sys/class/virtio-ports after "
                        + attempts + " attempts in " + PORT_WAIT_MILLIS + " ms");
            }
            TimeUnit.MILLISECONDS.sleep(Math.min(20L * attempts, 500));
        }
    }

    /**
     * Listens on the vsock port; the virtio-vsock driver registers its transport when the device probes, which
     * /init's module loading normally finishes before the agent starts, so a bind refused with EAFNOSUPPORT or
     * EADDRNOTAVAIL is retried until the same deadline as the serial port's.
     */
    private static VsockListener awaitVsock(int port) throws IOException, InterruptedException {
        long deadline = System.currentTimeMillis() + PORT_WAIT_MILLIS;
        int attempts = 0;
        while (true) {
            attempts++;
            try {
                return VsockListener.listen(port);
            } catch (IOException e) {
                if (System.currentTimeMillis() > deadline) {
                    throw new IOException("cannot listen on vsock port " + port + " after " + attempts
                            + " attempts in " + PORT_WAIT_MILLIS + " ms: " + e.getMessage(), e);
                }
            }
            TimeUnit.MILLISECONDS.sleep(Math.min(20L * attempts, 500));
        }
    }

    /**
     * One host connection at a time, as on the serial port: the shim holds one connection for the pod's life and
     * dials again after losing it, so a new connection is served once the previous one has ended.
     */
    private static void serveForever(TtrpcServer server, VsockListener listener) throws IOException {
        while (true) {
            Connection connection = listener.accept();
            LOG.log(Level.DEBUG, "msg=\"host connected\" channel={0}", connection.describe());
            server.serve(connection);
            LOG.log(Level.DEBUG, "msg=\"host connection ended\" channel={0}", connection.describe());
        }
    }

    /**
     * A virtio-serial port reads end of file while no host is connected, so serve returns at once
     * until the shim connects, and again whenever it goes away; serve again after a short back-off.
     * The port stays open across host sessions (see {@link DeviceConnection}: a port closed even
     * briefly loses what the host sends meanwhile); it is reopened only after an I/O error.
     */
    private static void serveForever(TtrpcServer server, Path device) throws InterruptedException {
        boolean wasConnected = false;
        while (true) {
            try (DeviceConnection port = DeviceConnection.open(device)) {
                while (!port.broken()) {
                    long since = System.nanoTime();
                    server.serve(port.session());
                    boolean connected = System.nanoTime() - since
                            > TimeUnit.MILLISECONDS.toNanos(RECONNECT_BACKOFF_MILLIS);
                    if (connected || wasConnected != connected) {
                        LOG.log(Level.DEBUG, "msg=\"host connection ended\" port={0}", device);
                    }
                    wasConnected = connected;
                    TimeUnit.MILLISECONDS.sleep(RECONNECT_BACKOFF_MILLIS);
                }
                LOG.log(Level.WARNING, "msg=\"reading {0} failed; reopening it\"", device);
            } catch (IOException e) {
                LOG.log(Level.WARNING, "msg=\"serve {0}: {1}\"", device, e.getMessage());
            }
            TimeUnit.MILLISECONDS.sleep(RECONNECT_BACKOFF_MILLIS);
        }
    }
}
