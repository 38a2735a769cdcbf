#!/usr/bin/env bash
# Agent-transport figures for docs/benchmarks.md, in one run: for each transport (the private containerd's
# `javakata` handler with [agent] transport = $TRANSPORT, and its `javakata-serial` handler), alternating, one pod
# per round: RunPodSandbox's time, the agent's request latency (the watchdog's Checks, from the pod's metrics),
# ExecSync `true` p50 and the stdout throughput of a container writing 32 MiB (io.javakata.it.TransportBench from
# integration/'s test classes). vsock is left out where the host has no /dev/vhost-vsock: it is said so.
#
#   scripts/bench-transports.sh [ROUNDS] [TRANSPORT]   default 3 rounds, transport hybrid-vsock
#
# Uses the installed shim unless JAVAKATA_SHIM_JAR / JAVAKATA_CONFIG point elsewhere (see docs/testing.md).
# Pass -Djavakata.it.state=DIR through BENCH_JAVA_OPTS when that configuration moves [runtime] state_dir.
set -euo pipefail

rounds="${1:-3}"
transport="${2:-hybrid-vsock}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/java-env.sh"
# shellcheck source=lib/it-main.sh
source "$root/scripts/lib/it-main.sh"
handlers=(javakata javakata-serial)
if [[ "$transport" == vsock && ! -e /dev/vhost-vsock ]]; then
    echo "bench-transports: vsock is not measurable on this host (no /dev/vhost-vsock); measuring serial only" >&2
    handlers=(javakata-serial)
fi
run_it_main "$root" "${BENCH_TARGET:-target-bench}" "${BENCH_JAVA_OPTS:-} -Djavakata.it.transport=$transport" \
    io.javakata.it.TransportBench "$rounds" "${handlers[@]}"
if [[ ! -e /dev/vhost-vsock ]]; then
    echo "vsock: not measurable on this host (no /dev/vhost-vsock)"
fi
