package io.javakata.ttrpc;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What a server knows about one call besides its request: the names it was called by, its metadata
 * (keys lower-cased; a key may repeat, so each maps to its values in order) and its deadline, if the
 * client sent a {@code timeout_nano}.
 */
public record CallContext(String service, String method, Map<String, List<String>> metadata,
                          Optional<Instant> deadline) {

    public CallContext {
        metadata = Map.copyOf(metadata);
    }

    /** The first value of a metadata key, if any. */
    public Optional<String> metadataValue(String key) {
        List<String> values = metadata.get(key.toLowerCase(java.util.Locale.ROOT));
        return values == null || values.isEmpty() ? Optional.empty() : Optional.of(values.getFirst());
    }
}
