package io.javakata.shim.agent;

import io.containerd.cgroups.v2.Metrics;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Objects;

/**
 * The guest agent as the shim sees it: one method per agent RPC, in the shim's own types. The model
 * ({@code Container}, {@code TaskProcess}, {@code StdioRelay}, {@code Sandbox}, port forwarding) talks
 * to this interface only; {@link TtrpcAgent} is the implementation over the pod's ttrpc connection,
 * and {@code AgentMessages} the one place that converts to and from the generated protobuf messages.
 *
 * <p>A process is named by (container id, exec id); the exec id is "" for a container's init.
 *
 * <p>Timeouts: calls that should answer at once carry the configured request timeout. A {@link Duration}
 * given to a method here is a bound; {@link #NO_TIMEOUT} ({@link Duration#ZERO}) means none, the only
 * spelling of "no timeout" at this seam. The calls that wait by design are long polls
 * ({@link #waitProcess}, {@link #readStdout}, {@link #readStderr}, {@link #listeningPorts}) bounded by
 * the implementation, or carry no timeout ({@link #waitForOom}, {@link #writeStdin},
 * {@link #readPortForward}, {@link #writePortForward}): nothing that must end waits on them.
 *
 * <p>Errors: a non-OK answer is a {@link io.javakata.ttrpc.RuntimeStatusException} with the agent's code
 * (NOT_FOUND for an unknown container or process, ALREADY_EXISTS for an id in use); a lost connection is
 * UNAVAILABLE, a missed deadline DEADLINE_EXCEEDED. Thread-safe: calls may run concurrently.
 */
public interface Agent extends AutoCloseable {

    /** The one spelling of "no timeout" for a {@link Duration} given to an agent call. */
    Duration NO_TIMEOUT = Duration.ZERO;

    /** Liveness and version check within {@code timeout}; the first one is the wait for the guest to boot. */
    Info check(Duration timeout);

    /**
     * A Check that is the wait for the guest to boot or resume: as {@link #check}, but its time is the guest's boot,
     * not an answer time of the agent's (the boot timeline records it).
     */
    Info awaitBoot(Duration timeout);

    /**
     * InitGuest, right after the first Check of every pod: host entropy for the guest's RNG (at least 64 bytes), the
     * host's wall-clock time, and the virtio-fs tag to mount when the guest has not (a clone of a VM template gets
     * its share hot-plugged), waiting up to {@code deviceWait} for its device.
     */
    void initGuest(byte[] entropy, java.time.Instant now, String shareTag, Duration deviceWait);

    /**
     * InitGuest with entropy and the clock only, sent to a template VM right before it is saved, waiting up to
     * {@code timeout}: its code runs once there, and the agent runs and removes one container of its own, so each
     * clone runs that code warm; the guest does not count as initialised (it reads no boot id yet).
     */
    void warmUpInitGuest(byte[] entropy, java.time.Instant now, Duration timeout);

    /** Creates a container from its (guest) OCI spec; returns its init's guest pid. Nothing runs until start. */
    int createContainer(String containerId, byte[] ociSpec, Stdio stdio);

    /** Starts the init ({@code execId} "") or an exec added by {@link #execProcess}; returns its guest pid. */
    int startProcess(String containerId, String execId);

    /** Registers an exec (OCI Process JSON, passed through); nothing runs until {@link #startProcess}. */
    void execProcess(String containerId, String execId, byte[] processJson, Stdio stdio);

    /** Forgets an exited or never-started exec in the guest. */
    void removeProcess(String containerId, String execId);

    /** Removes the container (and its execs) from the guest. */
    void removeContainer(String containerId);

    void resizePty(String containerId, String execId, int width, int height);

    void pauseContainer(String containerId);

    void resumeContainer(String containerId);

    /** Applies OCI LinuxResources (JSON, passed through) to the container's cgroup. */
    void updateContainer(String containerId, byte[] resourcesJson);

    /** cgroup v2 metrics of the container's cgroup (containerd's own message, handed on to containerd as is). */
    Metrics statsContainer(String containerId);

    /** The guest's memory, load and uptime; UNIMPLEMENTED from an agent older than the RPC. */
    GuestStats guestStats();

    /** The container's processes in the guest: its init first, an exec's main process with its exec id. */
    List<GuestProcess> listProcesses(String containerId);

    /** Blocks, with no timeout, until the guest kernel OOM-kills a process; returns its container's id. */
    String waitForOom();

    /**
     * Blocks until the process has exited and its output was drained in the guest, as a loop of long
     * polls: a container may run for hours, but no single call waits without a deadline.
     */
    Exit waitProcess(String containerId, String execId);

    /** Sends {@code signal} to the process, or with {@code all} to every process of the container. */
    void signalProcess(String containerId, String execId, int signal, boolean all);

    /** Writes to the process's stdin; may take fewer bytes than given (the returned count). */
    int writeStdin(String containerId, String execId, byte[] data);

    /** The process's stdin reaches EOF. */
    void closeStdin(String containerId, String execId);

    /** Up to {@code maxLen} bytes of stdout, the end of the stream, or (after the long poll) nothing yet. */
    Chunk readStdout(String containerId, String execId, int maxLen);

    /** As {@link #readStdout}, for stderr. */
    Chunk readStderr(String containerId, String execId, int maxLen);

    /** Configures the pod's interfaces, routes and hostname in the guest. */
    void configureNetwork(GuestNetwork network);

    /** The guest's listening TCP ports, once they differ from {@code known} or after {@code wait}. */
    List<Integer> listeningPorts(Collection<Integer> known, Duration wait);

    /** Connects to a guest TCP port; returns the stream id. */
    String openPortForward(int port);

    /** Up to {@code maxBytes} from the guest peer, or the end of its side (no timeout). */
    Chunk readPortForward(String streamId, int maxBytes);

    /** Writes every byte to the guest peer (no timeout). */
    void writePortForward(String streamId, byte[] data);

    /** Closes the stream, or only its guest-bound side ({@code writeOnly}). */
    void closePortForward(String streamId, boolean writeOnly);

    /** How long the agent took to answer each kind of request, for the pod's metrics. */
    AgentLatencies latencies();

    boolean isClosed();

    /** Closes the connection; calls in flight fail with UNAVAILABLE. */
    @Override
    void close();

    /** What Check says: the agent's build version and the guest kernel's release. */
    record Info(String version, String kernelRelease) {
    }

    /** A process's stdio as the guest sets it up: a terminal, and which streams the host relays. */
    record Stdio(boolean terminal, boolean stdin, boolean stdout, boolean stderr) {
    }

    /**
     * How a process ended: {@code status} 0-255 (128 + signal for a death by signal), when (the time the
     * answer arrived if the guest did not say), and whether its cgroup recorded an OOM kill meanwhile.
     */
    record Exit(int status, Instant exitedAt, boolean oomKilled) {
        public Exit {
            Objects.requireNonNull(exitedAt, "exitedAt");
        }
    }

    /** Bytes read from a stream; empty and not {@code eof}: nothing yet, ask again. */
    record Chunk(byte[] data, boolean eof) {
        public Chunk {
            Objects.requireNonNull(data, "data");
        }
    }

    /** A process in the guest: its pid and, for an exec's main process, its exec id ("" otherwise). */
    record GuestProcess(int pid, String execId) {
    }

    /** The guest's /proc/meminfo (bytes), /proc/loadavg and /proc/uptime (seconds). */
    record GuestStats(long memTotal, long memAvailable, long memFree, long cached, long shmem,
                      double load1, double load5, double load15, double uptimeSeconds) {
    }

    /**
     * The pod's network as the guest configures it, in the network namespace of guest pid
     * {@code netnsPid} (0: the agent's own).
     */
    record GuestNetwork(String hostname, int netnsPid, List<Interface> interfaces, List<Route> routes) {
        public GuestNetwork {
            interfaces = List.copyOf(interfaces);
            routes = List.copyOf(routes);
        }

        public GuestNetwork withNetnsPid(int pid) {
            return new GuestNetwork(hostname, pid, interfaces, routes);
        }

        /** An interface found by its MAC and given {@code name}, {@code mtu} and CIDR addresses. */
        public record Interface(String mac, String name, int mtu, List<String> addresses) {
            public Interface {
                addresses = List.copyOf(addresses);
            }
        }

        /** A route: destination CIDR or "default", gateway and source ("" for none), device, family 4 or 6. */
        public record Route(String destination, String gateway, String device, String source, int family) {
        }
    }
}
