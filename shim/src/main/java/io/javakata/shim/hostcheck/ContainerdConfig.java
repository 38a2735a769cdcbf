package io.javakata.shim.hostcheck;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.toml.TomlMapper;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * What containerd's {@code config.toml} says about javakata: which runtimes (CRI handlers) have
 * {@code runtime_type = "io.containerd.javakata.v2"}, their {@code options.ConfigPath}, and whether CRI restricts
 * {@code oom_score_adj}. The runtimes table sits at another path in each config version (1: {@code plugins.cri},
 * 2: {@code plugins."io.containerd.grpc.v1.cri"}, 3: {@code plugins."io.containerd.cri.v1.runtime"}), so every
 * {@code runtimes} table is searched. Files named by {@code imports} (paths or globs, as containerd takes them) are
 * read too (containerd docs/cri/config.md; services/server/config/config.go, resolveImports).
 *
 * @param file                the main file
 * @param runtimes            the javakata runtimes found, in file order
 * @param restrictOomScoreAdj some CRI table sets {@code restrict_oom_score_adj = true}
 */
record ContainerdConfig(Path file, List<Runtime> runtimes, boolean restrictOomScoreAdj) {

    static final Path DEFAULT = Path.of("/etc/containerd/config.toml");
    static final String RUNTIME_TYPE = "io.containerd.javakata.v2";

    /**
     * One runtime entry.
     *
     * @param handler    its name: the CRI handler (RuntimeClass {@code handler})
     * @param file       the file that defines it
     * @param configPath its {@code options.ConfigPath}, if set
     */
    record Runtime(String handler, Path file, Optional<Path> configPath) {
    }

    /**
     * Reads {@code file} and its imports.
     *
     * @throws IOException naming the file that is missing or is not TOML
     */
    static ContainerdConfig read(Path file) throws IOException {
        List<Runtime> runtimes = new ArrayList<>();
        boolean[] restrict = {false};
        List<Path> files = new ArrayList<>(List.of(file));
        JsonNode root = parse(file);
        for (JsonNode imported : root.path("imports")) {
            files.addAll(expand(file.toAbsolutePath().getParent(), imported.asText()));
        }
        for (Path f : files) {
            JsonNode tree = f.equals(file) ? root : parse(f);
            walk(tree, f, runtimes, restrict);
        }
        return new ContainerdConfig(file, List.copyOf(runtimes), restrict[0]);
    }

    private static JsonNode parse(Path file) throws IOException {
        try {
            JsonNode root = new TomlMapper().readTree(Files.readString(file));
            return root == null ? new TomlMapper().createObjectNode() : root;
        } catch (java.nio.file.NoSuchFileException e) {
            throw new IOException(file + " does not exist", e);
        } catch (IOException e) {
            String m = e.getMessage() == null ? "" : e.getMessage().lines().findFirst().orElse("");
            throw new IOException(file + " is not valid TOML: " + m, e);
        }
    }

    /** An import: a path or a glob, relative to the importing file's directory (containerd resolveImports). */
    private static List<Path> expand(Path dir, String pattern) throws IOException {
        Path path = dir.resolve(pattern);
        if (!pattern.contains("*") && !pattern.contains("?") && !pattern.contains("[")) {
            return Files.exists(path) ? List.of(path) : List.of();
        }
        Path parent = path.getParent();
        if (parent == null || !Files.isDirectory(parent)) {
            return List.of();
        }
        List<Path> matches = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(parent, path.getFileName().toString())) {
            entries.forEach(matches::add);
        }
        matches.sort(null);
        return matches;
    }

    private static void walk(JsonNode node, Path file, List<Runtime> runtimes, boolean[] restrict) {
        if (!node.isObject()) {
            return;
        }
        if (node.path("restrict_oom_score_adj").asBoolean(false)) {
            restrict[0] = true;
        }
        JsonNode table = node.path("runtimes");
        if (table.isObject()) {
            table.properties().forEach(e -> {
                if (RUNTIME_TYPE.equals(e.getValue().path("runtime_type").asText())) {
                    String configPath = e.getValue().path("options").path("ConfigPath").asText("");
                    runtimes.add(new Runtime(e.getKey(), file,
                            configPath.isBlank() ? Optional.empty() : Optional.of(Path.of(configPath))));
                }
            });
        }
        node.properties().forEach(e -> walk(e.getValue(), file, runtimes, restrict));
    }

    /**
     * The configuration file of the first javakata runtime, if it names one: another handler's file (a debug variant,
     * say) is not the one pods of the first get.
     */
    Optional<Path> shimConfigPath() {
        return runtimes.stream().findFirst().flatMap(Runtime::configPath);
    }

    Finding finding() {
        if (runtimes.isEmpty()) {
            return Finding.fail("containerd-config", file + " has no runtime with runtime_type = \"" + RUNTIME_TYPE
                    + "\": CRI cannot run pods with javakata (add one, README \"Using it with containerd\"; "
                    + "ctr run --runtime " + RUNTIME_TYPE + " works without it)");
        }
        List<String> names = runtimes.stream().map(r -> r.handler() + (r.file().equals(file) ? "" : " (in "
                + r.file() + ")") + r.configPath().map(p -> " ConfigPath=" + p).orElse("")).toList();
        return Finding.ok("containerd-config", file + ": CRI handler " + String.join(", ", names) + " runs "
                + RUNTIME_TYPE);
    }
}
