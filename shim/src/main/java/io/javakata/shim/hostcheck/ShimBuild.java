package io.javakata.shim.hostcheck;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Optional;

/**
 * What this shim binary is: its version (the jar manifest's Implementation-Version), the agent protocol it speaks
 * (sha256 of {@code javakata/agent.proto}, which both the shim and the agent jar carry), the Java runtime and the jar.
 *
 * @param version               Implementation-Version, or "development build" outside a jar
 * @param agentProtocolSha256   hex sha256 of the agent protocol's .proto file, or "unknown"
 * @param java                  the runtime's version
 * @param jar                   where the running code comes from, if a jar
 */
public record ShimBuild(String version, String agentProtocolSha256, String java, Optional<Path> jar) {

    /** The resource both jars carry (protobuf-maven-plugin attaches the .proto sources). */
    static final String AGENT_PROTO = "javakata/agent.proto";

    public static ShimBuild current() {
        String version = Optional.ofNullable(ShimBuild.class.getPackage().getImplementationVersion())
                .orElse("development build");
        return new ShimBuild(version, readAgentProtocolSha256().orElse("unknown"), Runtime.version().toString(), findJar());
    }

    private static Optional<String> readAgentProtocolSha256() {
        try (InputStream in = ShimBuild.class.getClassLoader().getResourceAsStream(AGENT_PROTO)) {
            return in == null ? Optional.empty() : Optional.of(sha256(in));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** The hex sha256 of everything {@code in} holds. */
    static String sha256(InputStream in) throws IOException {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            byte[] buffer = new byte[1 << 16];
            for (int n; (n = in.read(buffer)) > 0; ) {
                digest.update(buffer, 0, n);
            }
            return HexFormat.of().formatHex(digest.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }

    private static Optional<Path> findJar() {
        try {
            var source = ShimBuild.class.getProtectionDomain().getCodeSource();
            Path path = source == null ? null : Path.of(source.getLocation().toURI());
            return path != null && path.toString().endsWith(".jar") ? Optional.of(path) : Optional.empty();
        } catch (java.net.URISyntaxException | SecurityException | IllegalArgumentException e) {
            return Optional.empty();
        }
    }
}
