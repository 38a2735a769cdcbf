package io.javakata.it;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.UnaryOperator;

/**
 * The network figures of docs/benchmarks.md and docs/networking.md, run by scripts/bench-network.sh (not a test):
 * one javakata pod and one runc pod on the same private containerd's CNI bridge, each running busybox httpd with a
 * small page and a 32 MiB file; from this JVM on the host, at the CRI pod IP: {@code REQUESTS} sequential
 * HTTP/1.0 GETs of the page (a new TCP connection each: latency = connect + request + full response), then
 * {@code DOWNLOADS} downloads of the 32 MiB file (throughput pod → host). Both handlers are measured in the same
 * run, alternating.
 *
 * <p>Usage: {@code NetworkBench REQUESTS DOWNLOADS}.
 */
public final class NetworkBench {

    private static final int PORT = 8080;
    private static final int BIG_MIB = 32;

    private NetworkBench() {
    }

    public static void main(String[] args) throws Exception {
        int requests = Integer.parseInt(args[0]);
        int downloads = Integer.parseInt(args[1]);
        var cri = new PrivateCri();
        cri.beforeAll(null);
        var lines = new ArrayList<String>();
        try (Pod javakata = webPod(cri, "javakata"); Pod runc = webPod(cri, "runc")) {
            String jkIp = javakata.status().getNetwork().getIp();
            String runcIp = runc.status().getNetwork().getIp();
            warmUp(jkIp);
            warmUp(runcIp);
            double[][] latency = {new double[requests], new double[requests]};
            for (int i = 0; i < requests; i++) {
                latency[0][i] = timedGet(jkIp, "/", null);
                latency[1][i] = timedGet(runcIp, "/", null);
            }
            double[][] throughput = {new double[downloads], new double[downloads]};
            for (int i = 0; i < downloads; i++) {
                throughput[0][i] = download(jkIp);
                throughput[1][i] = download(runcIp);
            }
            String[] names = {"javakata", "runc"};
            for (int h = 0; h < 2; h++) {
                double[] sorted = latency[h].clone();
                Arrays.sort(sorted);
                lines.add(String.format(Locale.ROOT, "%-9s latency_ms mean %.2f p50 %.2f p95 %.2f (n=%d)   download_mbit_s mean %.0f min %.0f max %.0f (n=%d x %d MiB)",
                        names[h], mean(sorted), sorted[sorted.length / 2], sorted[(int) Math.ceil(sorted.length * 0.95) - 1], requests,
                        mean(throughput[h]), Arrays.stream(throughput[h]).min().orElse(0), Arrays.stream(throughput[h]).max().orElse(0),
                        downloads, BIG_MIB));
            }
        } finally {
            cri.afterAll(null);
        }
        lines.forEach(System.out::println);
    }

    private static Pod webPod(PrivateCri cri, String handler) throws Exception {
        Pod pod = cri.runPod(cri.podConfig("netbench-" + handler, UnaryOperator.identity()), handler);
        pod.run("web", "sh", "-c", "mkdir -p /www && echo hello > /www/index.html && dd if=/dev/zero of=/www/big bs=1M count="
                + BIG_MIB + " 2>/dev/null && httpd -f -p " + PORT + " -h /www & sleep 2; echo serving; sleep 3600");
        pod.awaitLog("web", l -> l.endsWith(" stdout F serving"), Duration.ofSeconds(180));
        return pod;
    }

    private static void warmUp(String ip) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (true) {
            try {
                timedGet(ip, "/", null);
                return;
            } catch (IOException e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(500);
            }
        }
    }

    /** One GET on a new connection; milliseconds from connect to the end of the response. */
    private static double timedGet(String ip, String path, long[] bytes) throws IOException {
        long start = System.nanoTime();
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(ip, PORT), 5000);
            socket.setSoTimeout(60000);
            OutputStream out = socket.getOutputStream();
            out.write(("GET " + path + " HTTP/1.0\r\nHost: " + ip + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = socket.getInputStream();
            byte[] buffer = new byte[1 << 16];
            long total = 0;
            for (int n; (n = in.read(buffer)) >= 0; ) {
                total += n;
            }
            if (bytes != null) {
                bytes[0] = total;
            }
        }
        return (System.nanoTime() - start) / 1e6;
    }

    /** Mbit/s of one download of the big file. */
    private static double download(String ip) throws IOException {
        long[] bytes = new long[1];
        double ms = timedGet(ip, "/big", bytes);
        if (bytes[0] < (long) BIG_MIB << 20) {
            throw new IOException("download from " + ip + " ended after " + bytes[0] + " bytes");
        }
        return bytes[0] * 8 / (ms / 1000) / 1e6;
    }

    private static double mean(double[] values) {
        return Arrays.stream(values).average().orElse(0);
    }
}
