#!/usr/bin/env bash
# Idle CPU of pods, side by side in one run, for docs/benchmarks.md ("An idle pod's CPU"): for every VARIANT, PODS
# idle javakata tasks (`ctr run -d … sleep`) on one private containerd, all running at once; after SETTLE seconds,
# ROUNDS samples of SECONDS each print, per pod, the CPU its QEMU took (utime + stime of /proc/<pid>/stat, % of one
# core) and how often QEMU's main loop and vCPU threads woke (voluntary + involuntary context switches per second,
# /proc/<pid>/task/*/status). Under TCG every guest wake-up is emulated work on the host: this is what limits how
# many idle pods a host holds (docs/benchmarks.md "Density").
#
#   scripts/bench-idle-cpu.sh PODS SETTLE ROUNDS SECONDS [VARIANT ...]
#
# VARIANT is NAME=LAUNCHER:CONFIG: the shim launcher containerd runs (an absolute path, e.g. bin/containerd-shim-
# javakata-v2 of an unpacked release of another commit; containerd 1.6+ takes a path as the runtime) and the
# configuration it gets as ConfigPath. Without any: installed=the shim on PATH with /etc/javakata/configuration.toml.
# Pods start one after the other, variant by variant; a variant's first pod builds its VM template when its
# configuration has them on. The templates the run built are removed at the end (each configuration's state_dir),
# unless that state_dir had templates before.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[[ $# -ge 4 ]] || { sed -n '2,16p' "$0" >&2; exit 2; }
PODS="$1"
SETTLE="$2"
ROUNDS="$3"
SECONDS_PER_ROUND="$4"
shift 4
export PATH="$PATH:/usr/local/sbin:/usr/local/bin"
variants=("$@")
if [[ ${#variants[@]} -eq 0 ]]; then
    variants=("installed=$(command -v containerd-shim-javakata-v2):/etc/javakata/configuration.toml")
fi
IMAGE=localhost/javakata/busybox:1
NS=idle
# shellcheck source=lib/toml.sh
source "$ROOT/scripts/lib/toml.sh"

dir="$(mktemp -d /tmp/jkidle.XXXXXX)"
sock="$dir/c.sock"
names=()
declare -A launcher config keep_templates
for v in "${variants[@]}"; do
    name="${v%%=*}"
    rest="${v#*=}"
    launcher[$name]="${rest%%:*}"
    config[$name]="${rest#*:}"
    [[ -x "${launcher[$name]}" && -r "${config[$name]}" ]] \
        || { echo "variant $name: ${launcher[$name]} is not executable or ${config[$name]} not readable" >&2; exit 2; }
    templates="$(toml_state_dir "${config[$name]}")/templates"
    keep_templates[$name]=false
    [[ ! -d "$templates" ]] || keep_templates[$name]=true
    names+=("$name")
done

cleanup() {
    trap - EXIT INT TERM
    for name in "${names[@]}"; do
        for i in $(seq "$PODS"); do
            ctr -a "$sock" -n "$NS" task kill -s SIGKILL "$name-$i" >/dev/null 2>&1 || true
        done
    done
    "$ROOT/scripts/containerd.sh" stop "$dir"
    for name in "${names[@]}"; do
        "${keep_templates[$name]}" || rm -rf "$(toml_state_dir "${config[$name]}")/templates"
    done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# shellcheck source=lib/busybox-containerd.sh
source "$ROOT/scripts/lib/busybox-containerd.sh"
busybox_containerd_start "$dir" "$NS" "$IMAGE"

for name in "${names[@]}"; do
    for i in $(seq "$PODS"); do
        t0=$(date +%s%N)
        ctr -a "$sock" -n "$NS" run --runtime "${launcher[$name]}" --runtime-config-path "${config[$name]}" -d "$IMAGE" \
            "$name-$i" sleep 36000 >/dev/null
        echo "pod $name-$i running after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
    done
done

descendants() { local c; for c in $(pgrep -P "$1" || true); do echo "$c"; descendants "$c"; done; }
# The QEMU of pod NAME-I: the qemu-system-x86 process under that pod's shim (the JVM of its `start`).
qemu_of() {
    local shim pid
    shim=$(pgrep -f -- "javakata-shim.jar .*-address $sock .*-id $1 (-debug )?start\$" | head -1 || true)
    [[ -n "$shim" ]] || return 0
    for pid in $(descendants "$shim"); do
        if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == qemu-system-x86 ]]; then
            echo "$pid"
            return 0
        fi
    done
}
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
switches() {
    local t sum=0
    for t in /proc/"$1"/task/*; do
        sum=$((sum + $(awk '/^(non)?voluntary_ctxt_switches:/ { s += $2 } END { print s }' "$t/status")))
    done
    echo "$sum"
}

echo "settling $SETTLE s"
sleep "$SETTLE"
hz=$(getconf CLK_TCK)
declare -A qemu
for name in "${names[@]}"; do
    for i in $(seq "$PODS"); do
        qemu[$name-$i]=$(qemu_of "$name-$i")
        [[ -n "${qemu[$name-$i]}" ]] || { echo "no QEMU found for pod $name-$i" >&2; exit 1; }
    done
done
printf '%-6s %-16s %-12s %s\n' round pod "qemu cpu %" "qemu wake-ups/s (all threads)"
for r in $(seq "$ROUNDS"); do
    declare -A t0 s0
    for pod in "${!qemu[@]}"; do
        t0[$pod]=$(ticks "${qemu[$pod]}")
        s0[$pod]=$(switches "${qemu[$pod]}")
    done
    sleep "$SECONDS_PER_ROUND"
    for name in "${names[@]}"; do
        for i in $(seq "$PODS"); do
            pod="$name-$i"
            cpu=$(echo "scale=2; 100 * ($(ticks "${qemu[$pod]}") - ${t0[$pod]}) / $hz / $SECONDS_PER_ROUND" | bc)
            wake=$(echo "scale=1; ($(switches "${qemu[$pod]}") - ${s0[$pod]}) / $SECONDS_PER_ROUND" | bc)
            printf '%-6s %-16s %-12s %s\n' "$r" "$pod" "$cpu" "$wake"
        done
    done
done
