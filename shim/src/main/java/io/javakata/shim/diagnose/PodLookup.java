package io.javakata.shim.diagnose;

import io.javakata.shim.sandbox.BootTimeline;
import io.javakata.shim.sandbox.SandboxState;
import io.javakata.ttrpc.Errors;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Finds a pod's state directory under {@code <state_dir>/sandboxes/} from what an operator knows about it: the pod's
 * CRI name, {@code namespace/name}, its sandbox id or a unique prefix of it (at least {@value #MIN_PREFIX}
 * characters), or the directory's own name. Reads each directory's timeline.json, or its sandbox.json when a pod has
 * none. Stateless.
 */
final class PodLookup {

    static final int MIN_PREFIX = 4;

    private PodLookup() {
    }

    /**
     * A pod's directory and who it is.
     *
     * @param dir      its state directory
     * @param identity its sandbox id and names ("" where unknown)
     */
    record Found(Path dir, BootTimeline.Identity identity) {
        String describe() {
            String name = identity.podName().isEmpty() ? "" : identity.podNamespace() + "/" + identity.podName() + " ";
            return name + "(sandbox " + identity.sandboxId() + ", " + dir + ")";
        }
    }

    /**
     * The one pod {@code pod} names.
     *
     * @throws io.javakata.ttrpc.RuntimeStatusException NOT_FOUND listing the pods there are, or INVALID_ARGUMENT listing
     *                                                  the pods {@code pod} matches when it matches several
     */
    static Found find(Path stateDir, String pod) throws IOException {
        List<Found> all = list(stateDir);
        List<Found> exact = all.stream().filter(f -> f.identity().sandboxId().equals(pod)
                || f.dir().getFileName().toString().equals(pod)
                || (f.identity().podNamespace() + "/" + f.identity().podName()).equals(pod)).toList();
        List<Found> matches = !exact.isEmpty() ? exact : all.stream().filter(f -> f.identity().podName().equals(pod)
                || (pod.length() >= MIN_PREFIX && f.identity().sandboxId().startsWith(pod))).toList();
        if (matches.size() == 1) {
            return matches.getFirst();
        }
        if (matches.isEmpty()) {
            throw Errors.notFound("no pod %s under %s; pods there: %s", pod, stateDir.resolve("sandboxes"),
                    all.isEmpty() ? "none" : String.join("; ", all.stream().map(Found::describe).toList()));
        }
        throw Errors.invalidArgument("%s matches %d pods, give namespace/name or the sandbox id: %s", pod,
                matches.size(), String.join("; ", matches.stream().map(Found::describe).toList()));
    }

    /** Every pod directory that names its pod (a directory being made or removed may not yet, or no longer). */
    static List<Found> list(Path stateDir) throws IOException {
        Path sandboxes = stateDir.resolve("sandboxes");
        if (!Files.isDirectory(sandboxes)) {
            return List.of();
        }
        List<Found> found = new ArrayList<>();
        try (Stream<Path> dirs = Files.list(sandboxes)) {
            for (Path dir : dirs.filter(Files::isDirectory).sorted().toList()) {
                identity(dir).ifPresent(id -> found.add(new Found(dir, id)));
            }
        }
        return found;
    }

    private static java.util.Optional<BootTimeline.Identity> identity(Path dir) {
        try {
            return java.util.Optional.of(BootTimeline.Saved.read(dir.resolve(BootTimeline.FILE_NAME)).identity());
        } catch (IOException e) {
            try {
                SandboxState state = SandboxState.read(new io.javakata.shim.sandbox.SandboxPaths(dir).sandboxJson());
                return java.util.Optional.of(new BootTimeline.Identity(state.sandboxId(), state.namespace(), "", "",
                        ""));
            } catch (IOException | RuntimeException e2) {
                return java.util.Optional.empty();
            }
        }
    }
}
