#!/usr/bin/env bash
# Density, for docs/benchmarks.md ("Density"): idle javakata pods (one busybox container each that prints a line and
# sleeps) started through CRI one after another on a private containerd and kept running
# (io.javakata.it.DensityBench from integration/'s test classes). Per pod: RunPodSandbox -> the container's first log
# line, the host's MemAvailable and load average, how many of the pods started so far still run their container (a
# pod declared dead by its shim's watchdog does not), and the memory of all pods' shims, QEMUs and virtiofsds. It stops
# at COUNT pods, when a start fails (RunPodSandbox past its 180 s deadline)
# or takes over 300 s in all, when MemAvailable falls under 2 GiB, or after BUDGET seconds;
# then it tears every pod down and checks that nothing is left (processes, mounts, sandbox state, network
# namespaces with their taps, veths, cgroups); exit 1 if something was.
#
#   scripts/bench-density.sh COUNT [BUDGET_SECONDS]     budget default 600
#
# The pods run the handler javakata-density: JAVAKATA_CONFIG (or /etc/javakata/configuration.toml) with
# boot_timeout_seconds = 300 and request_timeout_seconds = 120, because dozens of idle TCG guests share the host's
# cores and the defaults are sized for one VM booting at a time. The shim: the installed one, or JAVAKATA_SHIM_JAR.
set -euo pipefail

if [[ $# -lt 1 || ! "$1" =~ ^[0-9]+$ || ( $# -ge 2 && ! "$2" =~ ^[0-9]+$ ) ]]; then
    echo "usage: $0 COUNT [BUDGET_SECONDS]" >&2
    exit 2
fi
count="$1" budget="${2:-600}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/java-env.sh"
# shellcheck source=lib/it-main.sh
source "$root/scripts/lib/it-main.sh"
# shellcheck source=lib/bench-config.sh
source "$root/scripts/lib/bench-config.sh"
# shellcheck source=lib/templates.sh
source "$root/scripts/lib/templates.sh"

base="${JAVAKATA_CONFIG:-/etc/javakata/configuration.toml}"
work="$(mktemp -d /tmp/jkdensity.XXXXXX)"
# The VM templates the pods build go at the end, unless templates were there before (a node's cache).
templates_note_before "$base"
trap 'rm -rf "$work"; templates_remove_new' EXIT
toml_with_key "$base" hypervisor boot_timeout_seconds 300 > "$work/step.toml"
toml_with_key "$work/step.toml" agent request_timeout_seconds 120 > "$work/density.toml"
echo "bench-density: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)," \
    "load $(cut -d' ' -f1-3 /proc/loadavg), shim ${JAVAKATA_SHIM_JAR:-/usr/share/javakata/javakata-shim.jar}, base configuration $base"

JAVAKATA_EXTRA_HANDLERS="javakata-density=$work/density.toml" run_it_main "$root" "${BENCH_TARGET:-target-bench}" \
    "-Djavakata.it.state=$(toml_state_dir "$base") ${BENCH_JAVA_OPTS:-}" io.javakata.it.DensityBench "$count" javakata-density "$budget"
