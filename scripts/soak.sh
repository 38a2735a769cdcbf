#!/usr/bin/env bash
# The soak of issue 8 item 7 (docs/benchmarks.md "Soak"): SEQ pods one after another, then CONC pods at once, each
# RunPodSandbox -> CreateContainer + StartContainer (busybox sleep 3600) -> ExecSync echo (twice) -> StopPodSandbox
# -> RemovePodSandbox, every CRI call with a deadline, against a private containerd (scripts/containerd.sh) that is
# removed afterwards. Then: no pod failed or got stuck, nothing of any pod is left on the host (QEMU, virtiofsd and
# shim processes, zombies, mounts, sandbox state, shim sockets, pod network namespaces and whatever holds them,
# veths, pod cgroups), and containerd's open descriptors are back to their count before the first pod.
# Prints a line per pod and a summary (pods done, failures, leaks, duration, fds before/after, p50/p95 round trip);
# exits 1 if anything failed or leaked. io.javakata.it.Soak from integration/'s test classes does the work.
#
#   scripts/soak.sh [SEQ] [CONC]        defaults 200 and 10
#
# Uses the installed shim unless JAVAKATA_SHIM_JAR / JAVAKATA_CONFIG point elsewhere (see docs/testing.md); pass
# -Djavakata.it.state=DIR through SOAK_JAVA_OPTS when that configuration moves [runtime] state_dir, and
# -Djavakata.soak.podDeadline / waveDeadline / execs to change the defaults (see Soak's Javadoc).
set -euo pipefail

seq="${1:-200}"
conc="${2:-10}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/java-env.sh"
# shellcheck source=lib/it-main.sh
source "$root/scripts/lib/it-main.sh"
run_it_main "$root" "${SOAK_TARGET:-target-soak}" "${SOAK_JAVA_OPTS:-}" io.javakata.it.Soak "$seq" "$conc"
