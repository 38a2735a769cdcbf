package io.javakata.shim.sandbox;

import io.javakata.hypervisor.Accelerator;
import io.javakata.hypervisor.Hypervisor;
import io.javakata.hypervisor.VmEnd;
import io.javakata.hypervisor.VmSpec;
import io.javakata.hypervisor.qemu.CloneMemory;
import io.javakata.hypervisor.qemu.KvmProbe;
import io.javakata.hypervisor.qemu.QemuHypervisor;
import io.javakata.hypervisor.qemu.TemplateShape;
import io.javakata.hypervisor.qemu.TemplateStore;
import io.javakata.hypervisor.qemu.VmTemplate;
import io.javakata.shim.agent.Agent;
import io.javakata.shim.agent.TtrpcAgent;
import io.javakata.shim.config.RuntimeConfig;
import io.javakata.sys.Fds;
import io.javakata.ttrpc.TtrpcClient;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Chooses how a pod's VM starts: from the VM template of its shape (built first, once, under the shape's lock, if
 * there is none), or by a cold boot, with one INFO line naming why (docs/architecture.md "VM templates").
 */
final class VmTemplates {

    private static final System.Logger LOG = System.getLogger(VmTemplates.class.getName());
    /** The role a template VM's QEMU has in the journal of the pod that builds it. */
    static final String TEMPLATE_VMM = "template-vmm";
    private static final Duration STOP_GRACE = Duration.ofSeconds(2);
    /** The least time since a pod started from a template before it may be evicted. */
    static final Duration IN_USE = Duration.ofMinutes(10);

    private VmTemplates() {
    }

    /** The pod's (unstarted) hypervisor: a clone of its shape's template, or {@code launcher}'s cold boot. */
    static Hypervisor hypervisor(RuntimeConfig config, VmLauncher launcher, String sandboxId, VmSpec vm,
                                 Consumer<Hypervisor.OwnedProcess> launched) {
        Optional<String> reason = whyCold(config, launcher, vm);
        if (reason.isPresent()) {
            if (config.template().enabled()) {
                LOG.log(System.Logger.Level.INFO, "sandbox {0}: cold boot: {1}", sandboxId, reason.get());
            }
            return launcher.hypervisors().apply(vm);
        }
        try {
            VmTemplate template = obtain(config, launcher, vm, launched);
            LOG.log(System.Logger.Level.INFO, "sandbox {0}: starts from VM template {1}", sandboxId,
                    template.dir().getFileName());
            return QemuHypervisor.cloneOf(vm, KvmProbe.DEFAULT_CACHE, template, MemfdMemory.create(sandboxId));
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.INFO, "sandbox {0}: cold boot: no VM template: {1}", sandboxId,
                    e.getMessage());
            return launcher.hypervisors().apply(vm);
        }
    }

    /**
     * A clone of {@code vm}'s template (built first if there is none), never a cold boot: for a spare VM
     * ({@link Sandbox#createSpare}), which exists only to be taken as a clone.
     *
     * @throws IOException naming why this configuration's VMs are not clones
     */
    static Hypervisor clone(RuntimeConfig config, VmLauncher launcher, String id, VmSpec vm,
                            Consumer<Hypervisor.OwnedProcess> launched) throws IOException {
        Optional<String> reason = whyCold(config, launcher, vm);
        if (reason.isPresent()) {
            throw new IOException("no VM template for it: " + reason.get());
        }
        VmTemplate template = obtain(config, launcher, vm, launched);
        LOG.log(System.Logger.Level.INFO, "{0}: starts from VM template {1}", id, template.dir().getFileName());
        return QemuHypervisor.cloneOf(vm, KvmProbe.DEFAULT_CACHE, template, MemfdMemory.create(id));
    }

    /** Why this pod cannot start from a template, or empty. */
    static Optional<String> whyCold(RuntimeConfig config, VmLauncher launcher, VmSpec vm) {
        if (!config.template().enabled()) {
            return Optional.of("[template] enabled = false");
        }
        if (config.hypervisor().type() != RuntimeConfig.HypervisorType.QEMU || !launcher.templates()) {
            return Optional.of("templates need QEMU, not " + RuntimeConfig.tomlName(config.hypervisor().type()));
        }
        return TemplateShape.unsupported(vm);
    }

    private static VmTemplate obtain(RuntimeConfig config, VmLauncher launcher, VmSpec vm,
                                     Consumer<Hypervisor.OwnedProcess> launched) throws IOException {
        Accelerator accelerator = KvmProbe.choose(vm.accelerator(), vm.vmmBinary(), vm.machine(),
                KvmProbe.DEFAULT_CACHE).accelerator();
        TemplateStore store = TemplateStore.under(config.runtime().stateDir());
        TemplateShape shape = TemplateShape.of(vm, accelerator, shimVersion(), store.digests());
        Optional<VmTemplate> found = store.find(shape);
        if (found.isPresent()) {
            store.markUsed(found.get());
            return found.get();
        }
        try (TemplateStore.Lock lock = store.lock(shape, vm.bootTimeout().multipliedBy(2))) {
            found = store.find(shape);
            if (found.isPresent()) {
                store.markUsed(found.get());
                return found.get();
            }
            Optional<String> failed = store.failure(shape);
            if (failed.isPresent()) {
                throw new IOException("template " + shape.key() + " failed to build: " + failed.get()
                        + " (pods try again " + TemplateStore.RETRY_AFTER.toMinutes() + " minutes after it, or after "
                        + "`containerd-shim-javakata-v2 template rm`)");
            }
            VmTemplate built;
            try {
                built = build(config, launcher, vm, store, shape, launched);
            } catch (IOException | RuntimeException e) {
                store.markFailed(shape, e.getMessage());
                store.discardBuild(shape);
                throw new IOException("building template " + shape.key() + " failed: " + e.getMessage(), e);
            }
            evict(config, vm, store, shape);
            return built;
        }
    }

    /**
     * After a build: removes the least recently used templates beyond [template] max_count (each holds its guest's
     * RAM on the state dir's tmpfs), sparing any a pod started from within twice the boot timeout (at least
     * {@link #IN_USE}): its restore may still be copying it. A failure here costs disk, not the pod.
     */
    private static void evict(RuntimeConfig config, VmSpec vm, TemplateStore store, TemplateShape shape) {
        Duration inUse = vm.bootTimeout().multipliedBy(2);
        try {
            for (String key : store.evict(config.template().maxCount(), inUse.compareTo(IN_USE) > 0 ? inUse : IN_USE,
                    shape.key())) {
                LOG.log(System.Logger.Level.INFO, "VM template {0} removed: least recently used beyond [template] "
                        + "max_count = {1}", key, config.template().maxCount());
            }
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "removing least recently used VM templates: {0}", e.toString());
        }
    }

    /**
     * Boots the template VM (no share, NIC or network namespace; in the pod's cgroup, journaled as
     * {@value #TEMPLATE_VMM}), waits for its agent's Check, warms the agent's InitGuest, saves it and makes the
     * template visible.
     */
    private static VmTemplate build(RuntimeConfig config, VmLauncher launcher, VmSpec vm, TemplateStore store,
                                    TemplateShape shape, Consumer<Hypervisor.OwnedProcess> launched) throws IOException {
        long started = System.nanoTime();
        var dir = store.newBuildDir(shape);
        VmSpec spec = new VmSpec("template-" + shape.key().substring(0, 8), dir, vm.vmmBinary(), vm.kernel(),
                vm.initrd(), vm.kernelParams(), vm.vcpus(), vm.memoryMiB(), vm.accelerator(), vm.machine(), null,
                vm.agentChannel(), vm.bootTimeout())
                .withHostCgroup(vm.hostCgroup()).withDebugConsole(vm.debugConsole())
                .withVsockBackend(vm.vsockBackend()).withAgentImage(vm.agentImage());
        QemuHypervisor qemu = QemuHypervisor.template(spec, KvmProbe.DEFAULT_CACHE,
                MemfdMemory.create("template-" + shape.key()));
        try {
            qemu.start(p -> launched.accept(Hypervisor.OwnedProcess.VMM.equals(p.role())
                    ? new Hypervisor.OwnedProcess(TEMPLATE_VMM, p.pid()) : p));
            // A template VM that dies or freezes while it boots fails the build at once, as a pod's would.
            try (BootWatch watch = new BootWatch(qemu)) {
                try (Agent agent = new TtrpcAgent(new TtrpcClient(watch.dial(launcher.dialer(), qemu.agentEndpoint(),
                        vm.bootTimeout())), config.agent().requestTimeout())) {
                    watch.closeOnEnd(agent);
                    agent.check(vm.bootTimeout());
                    // A clone's first InitGuest reseeds the RNG and sets the clock through code the agent has not run
                    // yet (its FFM calls link on first use: seconds under TCG), and its first containers run the
                    // agent's container code for the first time; run once here (the agent runs a container of its
                    // own), that work is saved in the template (docs/benchmarks.md "Pod start").
                    agent.warmUpInitGuest(Sandbox.freshEntropy(), java.time.Instant.now(), vm.bootTimeout());
                } catch (IOException | RuntimeException e) {
                    Optional<String> ended = watch.settledReason();
                    if (ended.isEmpty()) {
                        throw e;
                    }
                    throw new IOException(VmEnd.whileBooting(ended, e.getMessage()), e);
                }
            }
            qemu.saveTemplate(dir.resolve("state"), vm.bootTimeout());
        } finally {
            qemu.stop(STOP_GRACE);
        }
        VmTemplate template = store.commit(shape, dir);
        LOG.log(System.Logger.Level.INFO, "VM template {0} built in {1} ms", shape.key(),
                (System.nanoTime() - started) / 1_000_000);
        return template;
    }

    /** A clone's or a template VM's RAM in a memfd of this shim (see {@link CloneMemory}). */
    private static final class MemfdMemory implements CloneMemory {
        private final int fd;
        private final Path path;
        private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();

        private MemfdMemory(int fd) {
            this.fd = fd;
            this.path = Path.of("/proc/" + ProcessHandle.current().pid() + "/fd/" + fd);
        }

        /** Named {@code javakata-ram-} and the first 12 characters of {@code owner} (a pod's id, or "template-…"). */
        static MemfdMemory create(String owner) throws IOException {
            return new MemfdMemory(Fds.memfd("javakata-ram-" + owner.substring(0, Math.min(12, owner.length()))));
        }

        @Override
        public Path path() {
            return path;
        }

        @Override
        public void close() {
            if (closed.compareAndSet(false, true)) {
                Fds.close(fd);
            }
        }
    }

    private static String shimVersion() {
        String version = VmTemplates.class.getPackage().getImplementationVersion();
        return version == null ? "dev" : version;
    }
}
