package io.javakata.guest.container;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import io.javakata.guest.reaper.Reaper;
import io.javakata.guest.stdio.ContainerStdio;
import io.javakata.sys.ErrnoException;
import io.javakata.sys.Signals;
import io.javakata.ttrpc.Errors;
import io.javakata.ttrpc.RuntimeStatusException;

/**
 * The containers of this guest, created and driven through runc.
 *
 * <p>Every method is blocking and thread-safe; failures are {@link RuntimeStatusException}s whose
 * message names the container and the step. A failed create removes what it made (runc state, FIFOs,
 * bundle directory).
 */
public final class ContainerManager {

    private static final System.Logger LOG = System.getLogger(ContainerManager.class.getName());
    private static final Pattern ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,127}");
    private static final int ESRCH = 3;

    private final Path bundles;
    private final Runc runc;
    private final Reaper reaper;
    private final ConcurrentMap<String, Container> containers = new ConcurrentHashMap<>();
    private final ConcurrentMap<String, Boolean> creating = new ConcurrentHashMap<>();

    /**
     * @param bundles the directory holding one bundle directory per container
     *                ({@code /run/javakata/bundles})
     */
    public ContainerManager(Path bundles, Runc runc, Reaper reaper) {
        this.bundles = bundles;
        this.runc = runc;
        this.reaper = reaper;
    }

    /** What the host asked for in CreateContainer. */
    public record CreateRequest(String id, byte[] ociSpec, boolean stdin, boolean stdout, boolean stderr) {
    }

    public Container create(CreateRequest request) {
        String id = request.id();
        if (id == null || !ID.matcher(id).matches()) {
            throw Errors.invalidArgument("container_id=\"%s\": must match %s", id, ID.pattern());
        }
        if (request.ociSpec().length == 0) {
            throw Errors.invalidArgument("oci_spec of container %s: must not be empty", id);
        }
        if (containers.containsKey(id) || creating.putIfAbsent(id, Boolean.TRUE) != null) {
            throw Errors.alreadyExists("container %s already exists", id);
        }
        try {
            Container container = createBundleAndRun(request);
            containers.put(id, container);
            return container;
        } finally {
            creating.remove(id);
        }
    }

    private Container createBundleAndRun(CreateRequest request) {
        String id = request.id();
        Path bundle = bundles.resolve(id);
        ContainerStdio stdio = new ContainerStdio(id, bundle, request.stdin(), request.stdout(), request.stderr());
        boolean runcCreated = false;
        try {
            Files.createDirectories(bundle);
            Files.write(bundle.resolve("config.json"), request.ociSpec());
            stdio.prepare();
            Path pidFile = bundle.resolve("init.pid");
            runcCreated = true;
            runc.create(id, bundle, pidFile, stdio);
            int pid = Integer.parseInt(Files.readString(pidFile, StandardCharsets.US_ASCII).strip());
            Container container = new Container(id, bundle, pid, stdio, reaper.track(pid));
            LOG.log(Level.INFO, "msg=\"container created\" container={0} pid={1}", id, pid);
            return container;
        } catch (IOException | RuntimeException e) {
            cleanUp(id, bundle, stdio, runcCreated);
            throw Errors.unknown("create container %s: %s", id, e.getMessage());
        }
    }

    public Container start(String id) {
        Container container = get(id);
        container.markStarted();
        try {
            runc.start(id, container.bundle());
        } catch (IOException e) {
            throw Errors.unknown("start container %s: %s", id, e.getMessage());
        }
        LOG.log(Level.INFO, "msg=\"container started\" container={0} pid={1}", id, container.initPid());
        return container;
    }

    public void signal(String id, int signal, boolean all) {
        Container container = get(id);
        if (container.exit().isDone()) {
            throw Errors.notFound("signal %d to container %s: process already finished", signal, id);
        }
        try {
            if (all) {
                runc.kill(id, container.bundle(), signal, true);
            } else {
                Signals.kill(container.initPid(), signal);
            }
        } catch (ErrnoException e) {
            if (e.errno() == ESRCH) {
                throw Errors.notFound("signal %d to container %s: process already finished", signal, id);
            }
            throw Errors.unknown("signal %d to container %s: %s", signal, id, e.getMessage());
        } catch (IOException e) {
            throw Errors.unknown("signal %d to container %s: %s", signal, id, e.getMessage());
        }
    }

    public void remove(String id) {
        Container container = get(id);
        try {
            runc.delete(id, container.bundle());
        } catch (IOException e) {
            throw Errors.unknown("remove container %s: %s", id, e.getMessage());
        }
        containers.remove(id);
        container.stdio().close();
        deleteTree(container.bundle());
        LOG.log(Level.INFO, "msg=\"container removed\" container={0}", id);
    }

    /** The container, or NOT_FOUND. */
    public Container get(String id) {
        Container container = containers.get(id);
        if (container == null) {
            throw Errors.notFound("container %s not found", id);
        }
        return container;
    }

    private void cleanUp(String id, Path bundle, ContainerStdio stdio, boolean runcCreated) {
        if (runcCreated) {
            try {
                runc.delete(id, bundle);
            } catch (IOException e) {
                LOG.log(Level.DEBUG, "msg=\"cleanup after failed create\" container={0} error=\"{1}\"", id,
                        e.getMessage());
            }
        }
        stdio.close();
        deleteTree(bundle);
    }

    private static void deleteTree(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            LOG.log(Level.WARNING, "msg=\"remove {0}: {1}\"", dir, e.getMessage());
        }
    }
}
