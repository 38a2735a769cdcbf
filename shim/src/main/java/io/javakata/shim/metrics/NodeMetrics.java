package io.javakata.shim.metrics;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;

/**
 * {@code containerd-shim-javakata-v2 metrics}: scrapes every pod's {@link MetricsServer} under
 * {@code <state_dir>/sandboxes/} at once and merges them into one exposition, each sample labelled with its pod
 * ({@code sandbox_id}, {@code pod_name}, {@code pod_namespace}, from the pod's {@code javakata_pod_info}), the way
 * kata-monitor aggregates Kata's shims. {@code javakata_pod_scrape_up{sandbox_dir}} says which pods answered.
 * Blocking: at most {@link #TIMEOUT} however many pods. Stateless.
 */
public final class NodeMetrics {

    static final Duration TIMEOUT = Duration.ofSeconds(10);
    static final String INFO = "javakata_pod_info";
    private static final List<String> POD_LABELS = List.of("sandbox_id", "pod_name", "pod_namespace");

    private NodeMetrics() {
    }

    /** The merged exposition of every pod under {@code stateDir}. */
    public static String scrape(Path stateDir) throws IOException {
        Path sandboxes = stateDir.resolve("sandboxes");
        List<Path> dirs;
        if (!Files.isDirectory(sandboxes)) {
            dirs = List.of();
        } else {
            try (Stream<Path> list = Files.list(sandboxes)) {
                dirs = list.filter(Files::isDirectory).sorted().toList();
            }
        }
        Map<Path, CompletableFuture<String>> scrapes = new LinkedHashMap<>();
        for (Path dir : dirs) {
            Path socket = dir.resolve(MetricsServer.SOCKET_NAME);
            scrapes.put(dir, CompletableFuture.supplyAsync(() -> {
                try {
                    return MetricsScraper.get(socket, TIMEOUT);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }, command -> Thread.ofVirtual().name("scrape-" + dir.getFileName()).start(command)));
        }
        Map<Path, String> answers = new LinkedHashMap<>();
        scrapes.forEach((dir, future) -> {
            try {
                answers.put(dir, future.join());
            } catch (java.util.concurrent.CompletionException e) {
                System.getLogger(NodeMetrics.class.getName()).log(System.Logger.Level.DEBUG,
                        "scrape " + dir + ": " + e.getCause().getMessage());
            }
        });
        return PromText.write(merge(dirs, answers));
    }

    /** One pod's exposition, from its {@link MetricsServer} socket, as the pod serves it. */
    public static String scrapeOne(Path socket) throws IOException {
        return MetricsScraper.get(socket, TIMEOUT);
    }

    /** Relabels each pod's families with the pod and merges families of the same name, pods in directory order. */
    static List<PromText.Family> merge(List<Path> dirs, Map<Path, String> answers) {
        PromText.Builder merged = new PromText.Builder();
        String up = "javakata_pod_scrape_up";
        merged.family(up, "gauge", "1 if the pod's shim answered on <sandbox_dir>/metrics.sock, 0 if not.");
        for (Path dir : dirs) {
            String text = answers.get(dir);
            merged.sample(up, Map.of("sandbox_dir", dir.toString()), text == null ? 0 : 1);
            if (text == null) {
                continue;
            }
            List<PromText.Family> families;
            try {
                families = PromText.parse(text);
            } catch (IllegalArgumentException e) {
                continue;
            }
            Map<String, String> pod = podLabels(families);
            for (PromText.Family f : families) {
                merged.family(f.name(), f.type(), f.help());
                for (PromText.Sample s : f.samples()) {
                    PromText.Sample labelled = f.name().equals(INFO) ? s : s.withLabels(pod);
                    merged.sample(f.name(), labelled.name(), labelled.labels(), labelled.value());
                }
            }
        }
        return merged.build();
    }

    private static Map<String, String> podLabels(List<PromText.Family> families) {
        Map<String, String> labels = new LinkedHashMap<>();
        families.stream().filter(f -> f.name().equals(INFO)).flatMap(f -> f.samples().stream()).findFirst()
                .ifPresent(info -> POD_LABELS.forEach(l -> labels.put(l, info.labels().getOrDefault(l, ""))));
        return labels;
    }
}
