#!/usr/bin/env bash
# Per idle pod host footprint for docs/benchmarks.md ("Footprint of an idle pod"): starts PODS idle javakata tasks
# (`ctr run -d … sleep`) through a private containerd, lets them idle SETTLE seconds, then prints for each:
#   - the shim's JVM: PSS and RSS (/proc/<pid>/smaps_rollup);
#   - QEMU: PSS and RSS in all, split into guest RAM (its memory-backend-memfd mapping, "/memfd:mem", or for a pod
#     restored from a VM template the shim's memfd "/memfd:javakata-ram-<pod>") and the rest, of which the initrd's
#     mapping (QEMU maps the -initrd file and keeps it for fw_cfg) and the agent image's (virtio-pmem: the host's
#     page cache of agent.img, which every VM maps) are shown on their own;
#   - guest RAM held: the pages allocated in the guest's memfd (`stat` of it: blocks), whoever maps them. For a
#     cold-booted pod it is about the RSS of QEMU's mapping; for a pod restored from a template it is more, since its
#     memfd (the shim's) was filled from the template's memory file and QEMU maps only the pages the guest touched since;
#   - virtiofsd and vhost-device-vsock (when the transport uses it): PSS and RSS;
#   - the guest's used memory, MemTotal - MemAvailable of the guest's /proc/meminfo, read in the container;
#   - idle CPU: the CPU time (utime + stime) the shim, QEMU and the pod's other processes took during the SETTLE
#     seconds, as a percentage of one core. Under TCG an idle guest's every wake-up is emulated: this is what limits
#     how many idle pods a host holds (docs/benchmarks.md "Density").
# PSS counts a page shared by N processes as 1/N: the guest RAM QEMU and virtiofsd both map, the page cache of the
# jar, the AOT cache, the JDK and the initrd that all pods share.
#
#   scripts/bench-footprint.sh [PODS] [SETTLE]     defaults: 1 pod, 30 s
#
# Runs the shim on PATH (make install's) unless PATH names another launcher first; JAVAKATA_SHIM_JAR and
# JAVAKATA_CONFIG reach the shim through containerd's environment as in the integration tests (docs/testing.md).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PODS="${1:-1}"
SETTLE="${2:-30}"
RUNTIME=io.containerd.javakata.v2
IMAGE=localhost/javakata/busybox:1
NS=footprint
export PATH="$PATH:/usr/local/sbin:/usr/local/bin"

dir="$(mktemp -d /tmp/jkfp.XXXXXX)"
sock="$dir/c.sock"
# With templates on (the default) the first pod builds one; it goes at the end unless templates were there before.
# shellcheck source=lib/templates.sh
source "$ROOT/scripts/lib/templates.sh"
templates_note_before "${JAVAKATA_CONFIG:-/etc/javakata/configuration.toml}" # the configuration the shim reads without ConfigPath
cleanup() {
    trap - EXIT INT TERM
    for i in $(seq "$PODS"); do
        ctr -a "$sock" -n "$NS" task kill -s SIGKILL "fp-$i" >/dev/null 2>&1 || true
    done
    "$ROOT/scripts/containerd.sh" stop "$dir"
    templates_remove_new || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# shellcheck source=lib/busybox-containerd.sh
source "$ROOT/scripts/lib/busybox-containerd.sh"
busybox_containerd_start "$dir" "$NS" "$IMAGE"

for i in $(seq "$PODS"); do
    t0=$(date +%s%N)
    # On a loaded host a TCG pod can fail to start (its watchdog, its boot timeout): try it up to 3 times.
    for attempt in 1 2 3; do
        ctr -a "$sock" -n "$NS" run --runtime "$RUNTIME" -d "$IMAGE" "fp-$i" sleep 36000 >/dev/null && break
        ctr -a "$sock" -n "$NS" containers rm "fp-$i" >/dev/null 2>&1 || true
        [[ $attempt -lt 3 ]] || { echo "pod fp-$i did not start in 3 attempts" >&2; exit 1; }
    done
    echo "pod fp-$i running after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
done
descendants() { local c; for c in $(pgrep -P "$1" || true); do echo "$c"; descendants "$c"; done; }
shim_of() { pgrep -f -- "javakata-shim.jar .*-address $sock .*-id fp-$1 (-debug )?start\$" | head -1 || true; }
# "shim qemu rest": CPU clock ticks (utime + stime, /proc/<pid>/stat) so far of pod I's shim, its QEMU and its
# other processes (virtiofsd, vhost-device-vsock).
pod_ticks() {
    local shim pid t shim_t=0 qemu_t=0 rest_t=0
    shim=$(shim_of "$1")
    [[ -n "$shim" ]] || { echo "0 0 0"; return; }
    shim_t=$(awk '{ print $14 + $15 }' "/proc/$shim/stat")
    for pid in $(descendants "$shim"); do
        t=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)
        case "$(cat "/proc/$pid/comm" 2>/dev/null)" in
            qemu-system-x86) qemu_t=$((qemu_t + t)) ;;
            *) rest_t=$((rest_t + t)) ;;
        esac
    done
    echo "$shim_t $qemu_t $rest_t"
}
declare -A ticks_before
for i in $(seq "$PODS"); do
    ticks_before[$i]=$(pod_ticks "$i")
done
settle_start=$(date +%s%N)
echo "idling $SETTLE s"
sleep "$SETTLE"
declare -A ticks_after
for i in $(seq "$PODS"); do
    ticks_after[$i]=$(pod_ticks "$i")
done
settle_ns=$(( $(date +%s%N) - settle_start ))
hz=$(getconf CLK_TCK)
# PERCENT of one core that TICKS_BEFORE -> TICKS_AFTER (one field) took over the idle period.
cpu_pct() { awk -v b="$1" -v a="$2" -v hz="$hz" -v ns="$settle_ns" 'BEGIN { printf "%.1f", (a - b) / hz * 1e11 / ns }'; }

kib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
# "pss_kib rss_kib" of a process, from smaps_rollup.
rollup() { awk '/^Rss:/ { r = $2 } /^Pss:/ { p = $2 } END { print p + 0, r + 0 }' "/proc/$1/smaps_rollup"; }
# "pss_kib rss_kib" of the mappings of a process whose name matches PATTERN (awk regex).
mapping() {
    awk -v pat="$2" '
        /^[0-9a-f]+-[0-9a-f]+ / { hit = ($6 ~ pat) }
        hit && /^Rss:/ { r += $2 }
        hit && /^Pss:/ { p += $2 }
        END { print p + 0, r + 0 }' "/proc/$1/smaps"
}
# KiB allocated in the guest-RAM memfds the processes PIDS hold open (each memfd once, by inode).
memfd_held() {
    local pid fd seen=" " inode blocks size total=0
    for pid in "$@"; do
        for fd in /proc/"$pid"/fd/*; do
            case "$(readlink "$fd" 2>/dev/null)" in
                "/memfd:mem"*|"/memfd:javakata-ram-"*)
                    read -r inode blocks size < <(stat -L -c '%i %b %B' "$fd") || continue
                    [[ "$seen" == *" $inode "* ]] && continue
                    seen+="$inode "
                    total=$((total + blocks * size / 1024)) ;;
            esac
        done
    done
    echo "$total"
}

echo
echo "pod | shim PSS/RSS MiB | QEMU PSS/RSS MiB | guest RAM (memfd) PSS/RSS MiB | QEMU rest PSS/RSS MiB | of which initrd PSS/RSS MiB | of which agent image PSS/RSS MiB | guest RAM held MiB | virtiofsd PSS/RSS MiB | vhost-device-vsock PSS/RSS MiB | guest used MiB | idle CPU % of a core: shim / QEMU / rest"
for i in $(seq "$PODS"); do
    shim=$(shim_of "$i")
    [[ -n "$shim" ]] || { echo "fp-$i | no shim process found"; continue; }
    read -r b_shim b_qemu b_rest <<< "${ticks_before[$i]}"
    read -r a_shim a_qemu a_rest <<< "${ticks_after[$i]}"
    idle_cpu="$(cpu_pct "$b_shim" "$a_shim") / $(cpu_pct "$b_qemu" "$a_qemu") / $(cpu_pct "$b_rest" "$a_rest")"
    read -r shim_p shim_r < <(rollup "$shim")
    qemu_p=0 qemu_r=0 mem_p=0 mem_r=0 initrd_p=0 initrd_r=0 image_p=0 image_r=0 vfs_p=0 vfs_r=0 vsock_p=0 vsock_r=0
    held=$(memfd_held "$shim" $(descendants "$shim"))
    for pid in $(descendants "$shim"); do
        case "$(cat "/proc/$pid/comm" 2>/dev/null)" in
            qemu-system-x86)
                read -r qemu_p qemu_r < <(rollup "$pid")
                read -r mem_p mem_r < <(mapping "$pid" '^/memfd:(mem|javakata-ram-)')
                read -r initrd_p initrd_r < <(mapping "$pid" 'initrd')
                read -r image_p image_r < <(mapping "$pid" 'agent\.img')
                ;;
            virtiofsd)
                read -r p r < <(rollup "$pid"); vfs_p=$((vfs_p + p)); vfs_r=$((vfs_r + r)) ;;
            vhost-device-vs*)
                read -r p r < <(rollup "$pid"); vsock_p=$((vsock_p + p)); vsock_r=$((vsock_r + r)) ;;
        esac
    done
    used=$(ctr -a "$sock" -n "$NS" task exec --exec-id "mem-$i" "fp-$i" cat /proc/meminfo \
        | awk '/^MemTotal:/ { t = $2 } /^MemAvailable:/ { a = $2 } END { printf "%.1f", (t - a) / 1024 }')
    echo "fp-$i | $(kib "$shim_p")/$(kib "$shim_r") | $(kib "$qemu_p")/$(kib "$qemu_r")" \
        "| $(kib "$mem_p")/$(kib "$mem_r") | $(kib $((qemu_p - mem_p)))/$(kib $((qemu_r - mem_r)))" \
        "| $(kib "$initrd_p")/$(kib "$initrd_r") | $(kib "$image_p")/$(kib "$image_r") | $(kib "$held") | $(kib "$vfs_p")/$(kib "$vfs_r") | $(kib "$vsock_p")/$(kib "$vsock_r") | $used | $idle_cpu"
done
