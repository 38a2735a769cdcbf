package io.javakata.it;

import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.node.v1.RuntimeClass;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;

/**
 * deploy/*.yaml read into the Kubernetes API types of fabric8's kubernetes-model, strictly: fabric8's types keep
 * fields they do not know in {@code additionalProperties} instead of failing, so every object of the result is walked
 * and any such field is an error naming its path (as the API server's strict field validation would refuse it). A
 * wrong value type fails in Jackson. Only the kinds deploy/ uses are known; another kind is an error.
 */
final class DeployManifests {

    private static final Map<String, Class<? extends HasMetadata>> KINDS = Map.of(
            "v1/ServiceAccount", ServiceAccount.class,
            "rbac.authorization.k8s.io/v1/ClusterRole", ClusterRole.class,
            "rbac.authorization.k8s.io/v1/ClusterRoleBinding", ClusterRoleBinding.class,
            "apps/v1/DaemonSet", DaemonSet.class,
            "node.k8s.io/v1/RuntimeClass", RuntimeClass.class);
    private static final YAMLMapper YAML = YAMLMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES).build();

    private DeployManifests() {
    }

    /** Every document of {@code file}, as its API type; an unknown field, kind or type is an {@link IOException}. */
    static List<HasMetadata> read(Path file) throws IOException {
        var resources = new ArrayList<HasMetadata>();
        try (var docs = YAML.readerFor(JsonNode.class).<JsonNode>readValues(file.toFile())) {
            while (docs.hasNext()) {
                JsonNode doc = docs.next();
                if (doc == null || doc.isNull() || doc.isEmpty()) {
                    continue;
                }
                String kind = doc.path("apiVersion").asText() + "/" + doc.path("kind").asText();
                Class<? extends HasMetadata> type = KINDS.get(kind);
                if (type == null) {
                    throw new IOException(file + ": unknown kind " + kind + " (known: " + KINDS.keySet() + ")");
                }
                HasMetadata resource = YAML.treeToValue(doc, type);
                var unknown = new ArrayList<String>();
                unknownFields(resource, kind + " " + resource.getMetadata().getName(), unknown, new IdentityHashMap<>());
                if (!unknown.isEmpty()) {
                    throw new IOException(file + ": fields the Kubernetes API does not have: " + unknown);
                }
                resources.add(resource);
            }
        }
        return resources;
    }

    /** The one resource of {@code type} in {@code file}. */
    static <T extends HasMetadata> T one(Path file, Class<T> type) throws IOException {
        var found = read(file).stream().filter(type::isInstance).map(type::cast).toList();
        if (found.size() != 1) {
            throw new IOException(file + ": " + found.size() + " resources of kind " + type.getSimpleName() + ", expected one");
        }
        return found.getFirst();
    }

    private static void unknownFields(Object value, String path, List<String> unknown, Map<Object, Boolean> seen) {
        if (value == null || seen.put(value, true) != null) {
            return;
        }
        if (value instanceof Collection<?> items) {
            int i = 0;
            for (Object item : items) {
                unknownFields(item, path + "[" + i++ + "]", unknown, seen);
            }
            return;
        }
        if (value instanceof Map<?, ?> map) {
            map.forEach((k, v) -> unknownFields(v, path + "." + k, unknown, seen));
            return;
        }
        if (!value.getClass().getName().startsWith("io.fabric8.kubernetes.api.model.")) {
            return;
        }
        for (Method getter : value.getClass().getMethods()) {
            if (getter.getParameterCount() != 0 || Modifier.isStatic(getter.getModifiers())
                    || !getter.getName().startsWith("get") || getter.getName().equals("getClass")) {
                continue;
            }
            Object field;
            try {
                field = getter.invoke(value);
            } catch (IllegalAccessException | InvocationTargetException e) {
                continue; // a computed getter that does not apply to this value
            }
            if (getter.getName().equals("getAdditionalProperties")) {
                if (field instanceof Map<?, ?> extra && !extra.isEmpty()) {
                    extra.keySet().forEach(k -> unknown.add(path + "." + k));
                }
                continue;
            }
            String name = getter.getName().substring(3);
            unknownFields(field, path + "." + Character.toLowerCase(name.charAt(0)) + name.substring(1), unknown, seen);
        }
    }
}
