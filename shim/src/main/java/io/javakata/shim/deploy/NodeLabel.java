package io.javakata.shim.deploy;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.Map;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * Sets or removes a label on the node the javakata-deploy pod runs on (deploy/javakata-deploy.yaml), with the pod's
 * service account: one JSON merge patch of the Node ({@code PATCH /api/v1/nodes/NAME}, Content-Type
 * {@code application/merge-patch+json}; a null value removes a key, RFC 7386). The API server's address comes from
 * the {@code KUBERNETES_SERVICE_HOST} and {@code _PORT} variables the kubelet gives every container, its CA and the
 * token from the mounted service account, the node's name from {@code NODE_NAME} (the downward API).
 *
 * <pre>java -cp javakata-shim.jar io.javakata.shim.deploy.NodeLabel set KEY VALUE | remove KEY</pre>
 */
public final class NodeLabel {

    static final Path ACCOUNT = Path.of("/var/run/secrets/kubernetes.io/serviceaccount");
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    private NodeLabel() {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> env = System.getenv();
        String patch = switch (args.length > 0 ? args[0] : "") {
            case "set" -> args.length == 3 ? patch(args[1], args[2]) : null;
            case "remove" -> args.length == 2 ? patch(args[1], null) : null;
            default -> null;
        };
        if (patch == null) {
            System.err.println("usage: NodeLabel set KEY VALUE | remove KEY");
            System.exit(2);
        }
        String node = require(env, "NODE_NAME");
        URI api = URI.create("https://" + require(env, "KUBERNETES_SERVICE_HOST") + ":"
                + require(env, "KUBERNETES_SERVICE_PORT"));
        String token = Files.readString(ACCOUNT.resolve("token")).strip();
        HttpClient client = HttpClient.newBuilder().sslContext(trusting(ACCOUNT.resolve("ca.crt")))
                .connectTimeout(TIMEOUT).build();
        HttpResponse<String> response = client.send(request(api, node, token, patch), HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() / 100 != 2) {
            System.err.println("NodeLabel: PATCH node " + node + ": HTTP " + response.statusCode() + ": " + response.body());
            System.exit(1);
        }
        System.err.println("NodeLabel: node " + node + ": " + patch);
    }

    /** The merge patch that sets label {@code key} to {@code value}, or removes it when {@code value} is null. */
    static String patch(String key, String value) {
        String v = value == null ? "null" : quote(value);
        return "{\"metadata\":{\"labels\":{" + quote(key) + ":" + v + "}}}";
    }

    static HttpRequest request(URI api, String node, String token, String patch) {
        if (!node.matches("[a-z0-9]([-a-z0-9.]*[a-z0-9])?")) {
            throw new IllegalArgumentException("NODE_NAME=" + node + ": not a node name (DNS-1123 subdomain)");
        }
        return HttpRequest.newBuilder(api.resolve("/api/v1/nodes/" + node)).timeout(TIMEOUT)
                .header("Authorization", "Bearer " + token)
                .header("Content-Type", "application/merge-patch+json")
                .header("Accept", "application/json")
                .method("PATCH", HttpRequest.BodyPublishers.ofString(patch, StandardCharsets.UTF_8)).build();
    }

    private static String quote(String s) {
        if (!s.matches("[A-Za-z0-9._/-]*")) {
            throw new IllegalArgumentException("label text " + s + ": only letters, digits and . _ / - are allowed");
        }
        return "\"" + s + "\"";
    }

    private static String require(Map<String, String> env, String name) {
        String value = env.get(name);
        if (value == null || value.isEmpty()) {
            throw new IllegalStateException(name + " is not set: NodeLabel runs in a pod of deploy/javakata-deploy.yaml");
        }
        return value;
    }

    private static SSLContext trusting(Path caFile) throws IOException, GeneralSecurityException {
        KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
        store.load(null, null);
        try (InputStream in = Files.newInputStream(caFile)) {
            int i = 0;
            for (var cert : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                store.setCertificateEntry("ca" + i++, cert);
            }
        }
        var trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trust.init(store);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(null, trust.getTrustManagers(), null);
        return context;
    }
}
