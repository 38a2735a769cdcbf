#!/usr/bin/env bash
# Network figures for docs/benchmarks.md and docs/networking.md: host -> pod HTTP request latency and TCP
# download throughput, for a javakata pod and a runc pod in the same run, on the same private containerd's
# CNI bridge. Each pod runs busybox httpd serving a small page and a 32 MiB file; the client is a Java
# program on the host (io.javakata.it.NetworkBench from integration/'s test classes) connecting to the CRI pod
# IP: REQUESTS sequential HTTP/1.0 GETs of the page (a new TCP connection each), then DOWNLOADS downloads of
# the 32 MiB file, alternating between the two pods. Everything runs under a private containerd that is
# removed afterwards.
#
#   scripts/bench-network.sh [REQUESTS [DOWNLOADS]]     default 200 and 3
#
# Uses the installed shim unless JAVAKATA_SHIM_JAR / JAVAKATA_CONFIG point elsewhere (see docs/testing.md).
# Pass -Djavakata.it.state=DIR through BENCH_JAVA_OPTS when that configuration moves [runtime] state_dir.
set -euo pipefail

requests="${1:-200}"
downloads="${2:-3}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/java-env.sh"
# shellcheck source=lib/it-main.sh
source "$root/scripts/lib/it-main.sh"
run_it_main "$root" "${BENCH_TARGET:-target-bench}" "${BENCH_JAVA_OPTS:-}" io.javakata.it.NetworkBench "$requests" "$downloads"
