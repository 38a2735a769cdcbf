package io.javakata.shim.sandbox;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

/**
 * sandbox.json, the pod's journal: the shim that owns the pod and every host resource it has made or
 * is about to make ({@link PodResource}), in the order they were made. Each change is written before
 * the side effect it announces and replaces the file atomically (write, then rename), so the file is
 * always whole. {@link SandboxCleaner} cleans up after a dead shim from this file alone.
 *
 * @param sandboxId     the sandbox id
 * @param namespace     the containerd namespace
 * @param shimPid       the shim that owns the pod
 * @param shimStartTime its start time (/proc/[pid]/stat field 22), against pid reuse
 * @param dir           the sandbox's state directory
 * @param resources     the pod's host resources, oldest first
 */
public record SandboxState(String sandboxId, String namespace, long shimPid, long shimStartTime, String dir,
                           List<PodResource> resources) {

    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    public SandboxState {
        resources = resources == null ? List.of() : List.copyOf(resources);
    }

    /**
     * This journal with {@code resource} recorded: it replaces the entry of the same kind (a VM's
     * process list grows, for example) or is appended.
     */
    public SandboxState with(PodResource resource) {
        List<PodResource> updated = new ArrayList<>(resources);
        for (int i = 0; i < updated.size(); i++) {
            if (updated.get(i).getClass() == resource.getClass()) {
                updated.set(i, resource);
                return new SandboxState(sandboxId, namespace, shimPid, shimStartTime, dir, updated);
            }
        }
        updated.add(resource);
        return new SandboxState(sandboxId, namespace, shimPid, shimStartTime, dir, updated);
    }

    /** The recorded VM, if it got as far as launching. */
    public java.util.Optional<PodResource.Vm> vm() {
        return resources.stream().filter(PodResource.Vm.class::isInstance).map(PodResource.Vm.class::cast).findFirst();
    }

    public void write(Path file) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        JSON.writerWithDefaultPrettyPrinter().writeValue(tmp.toFile(), this);
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    public static SandboxState read(Path file) throws IOException {
        return JSON.readValue(file.toFile(), SandboxState.class);
    }
}
