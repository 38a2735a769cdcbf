#!/usr/bin/env bash
# CRI figures for docs/benchmarks.md: RunPodSandbox -> first log line of a container, for javakata and runc in
# the same run (alternating, same private containerd), CreateContainer + StartContainer of a second container in
# each running pod, and per-pod host RSS (shim, QEMU, virtiofsd) plus the guest's used memory after start.
# scripts/bench-pod-start.sh runs the same with the VM template on and off and the bare VM boot floor. Drives containerd's CRI like the kubelet (io.javakata.it.CriBench from
# integration/'s test classes); everything runs under a private containerd that is removed afterwards.
#
#   scripts/bench-cri.sh [ROUNDS]        default 3 rounds
#
# Uses the installed shim unless JAVAKATA_SHIM_JAR / JAVAKATA_CONFIG point elsewhere (see docs/testing.md).
# Pass -Djavakata.it.state=DIR through BENCH_JAVA_OPTS when that configuration moves [runtime] state_dir.
set -euo pipefail

rounds="${1:-3}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/java-env.sh"
# shellcheck source=lib/it-main.sh
source "$root/scripts/lib/it-main.sh"
run_it_main "$root" "${BENCH_TARGET:-target-bench}" "${BENCH_JAVA_OPTS:-}" io.javakata.it.CriBench "$rounds" runc javakata
