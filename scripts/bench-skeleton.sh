#!/usr/bin/env bash
# Measures the walking skeleton (after `make install`): start-to-exit of
#   ctr run --runtime io.containerd.javakata.v2 --rm IMAGE ID uname -r
# through a private containerd, split with the timestamps of the shim's own log lines in containerd's
# log; the floor (the same QEMU, kernel and initrd reaching the guest's /init, nothing else); and the
# host RSS of the shim, QEMU and virtiofsd while a container runs.
#
#   scripts/bench-skeleton.sh [RUNS]      RUNS defaults to 3
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${1:-3}"
RUNTIME=io.containerd.javakata.v2
IMAGE=localhost/javakata/busybox:1
NS=bench
SHARE=/usr/share/javakata
export PATH="/usr/local/sbin:/usr/local/bin:$PATH"

dir="$(mktemp -d /tmp/jkbench.XXXXXX)"
sock="$dir/c.sock"
qemu_pid=""
cleanup() {
    trap - EXIT INT TERM
    [[ -n "$qemu_pid" ]] && kill -KILL "$qemu_pid" 2>/dev/null
    "$ROOT/scripts/containerd.sh" stop "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { date +%s.%N; }
# Seconds (with fraction) since the epoch of a shim log line's time=<RFC 3339 instant>.
line_time() { date -d "$(sed -E 's/^time=([^ ]+) .*/\1/' <<<"$1")" +%s.%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d", (b - a) * 1000 }'; }
# The first shim line (time=<instant> … id=ID …) of task ID whose message matches PATTERN.
shim_line() { grep -E "^time=[0-9][^ ]* .*\\bid=$1\\b" "$dir/containerd.log" | grep -E -m1 "$2" || true; }

# shellcheck source=lib/busybox-containerd.sh
source "$ROOT/scripts/lib/busybox-containerd.sh"
busybox_containerd_start "$dir" "$NS" "$IMAGE"

echo "## ctr run --runtime $RUNTIME --rm $IMAGE bench-N uname -r  ($RUNS runs)"
echo "run | total ms | shim ready | VMM launched | agent ready | container created | started | exited | deleted, VM stopped, ctr returned"
for i in $(seq "$RUNS"); do
    id="bench-$i"
    t0=$(now)
    ctr -a "$sock" -n "$NS" run --runtime "$RUNTIME" --rm "$IMAGE" "$id" uname -r >/dev/null
    t1=$(now)
    serving=$(shim_line "$id" 'shim serving task API')
    vmm=$(shim_line "$id" 'VMM pid')
    agent=$(shim_line "$id" 'agent .* answered')
    created=$(shim_line "$id" 'event /tasks/create ')
    started=$(shim_line "$id" 'event /tasks/start ')
    exited=$(shim_line "$id" 'event /tasks/exit ')
    if [[ -n "$serving" && -n "$vmm" && -n "$agent" && -n "$created" && -n "$started" && -n "$exited" ]]; then
        ts=$(line_time "$serving"); tv=$(line_time "$vmm"); ta=$(line_time "$agent")
        tc=$(line_time "$created"); tst=$(line_time "$started"); te=$(line_time "$exited")
        echo "$i | $(ms "$t0" "$t1") | $(ms "$t0" "$ts") | +$(ms "$ts" "$tv") | +$(ms "$tv" "$ta") | +$(ms "$ta" "$tc") | +$(ms "$tc" "$tst") | +$(ms "$tst" "$te") | +$(ms "$te" "$t1")"
    else
        echo "$i | $(ms "$t0" "$t1") | (the shim's log lines for the split were not found in $dir/containerd.log)"
    fi
done

echo
echo "## floor: QEMU + $SHARE/vmlinuz + $SHARE/initrd.img until the guest's /init prints its first line"
for i in $(seq "$RUNS"); do
    console="$dir/floor-$i.log"
    t0=$(now)
    qemu-system-x86_64 -machine q35 -accel tcg -cpu max -smp 1 -m 512 -nodefaults -nographic \
        -serial "file:$console" -kernel "$SHARE/vmlinuz" -initrd "$SHARE/initrd.img" \
        -append "console=ttyS0 panic=-1" -no-reboot &
    qemu_pid=$!
    until grep -q 'javakata-init:' "$console" 2>/dev/null; do
        kill -0 "$qemu_pid" 2>/dev/null || { echo "QEMU exited before /init ran; see $console"; break; }
        sleep 0.02
    done
    t1=$(now)
    kill -KILL "$qemu_pid" 2>/dev/null; wait "$qemu_pid" 2>/dev/null || true; qemu_pid=""
    echo "run $i: $(ms "$t0" "$t1") ms to '$(grep -m1 'javakata-init:' "$console" | tr -d '\r')'"
done

echo
echo "## host RSS while a container runs (ctr run -d … sleep 60), from /proc/<pid>/status VmRSS"
ctr -a "$sock" -n "$NS" run --runtime "$RUNTIME" -d "$IMAGE" rss sleep 60 >/dev/null
rss() { awk '/^VmRSS/ { print $2 " kB" }' "/proc/$1/status"; }
shim=$(pgrep -f -- "javakata-shim.jar.* -address $sock" | head -1 || true)
if [[ -n "$shim" ]]; then
    echo "shim pid $shim: $(rss "$shim")"
    for child in $(pgrep -P "$shim"); do
        echo "$(cat "/proc/$child/comm") pid $child: $(rss "$child")"
    done
else
    echo "no shim process found for $sock"
fi
ctr -a "$sock" -n "$NS" task kill -s SIGKILL rss >/dev/null
for _ in $(seq 100); do
    [[ "$(ctr -a "$sock" -n "$NS" task ls | awk '$1 == "rss" { print $3 }')" == STOPPED ]] && break
    sleep 0.1
done
ctr -a "$sock" -n "$NS" task rm rss >/dev/null
ctr -a "$sock" -n "$NS" containers rm rss >/dev/null
