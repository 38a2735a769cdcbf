#!/usr/bin/env bash
# Boot timeline of guest initrds, run after run in turn on the same QEMU and kernel: the guest uptime /init
# prints at each stage (stage 1, boot modules loaded, copied to the tmpfs, stage 2, exec of the agent) and the
# wall time from QEMU's spawn to the "exec agent" line; then QEMU is killed. No virtiofsd, no agent channel:
# this times the kernel and /init only, which is what the initrd's size and content change. A boot that ends
# before /init reaches the agent (under a heavily loaded host TCG's timer check can panic the kernel early) is
# reported and retried, up to 3 times.
#
#   scripts/bench-guest-boot.sh VMLINUZ RUNS INITRD...
set -euo pipefail

if [[ $# -lt 3 ]]; then
    echo "usage: $0 VMLINUZ RUNS INITRD..." >&2
    exit 2
fi
kernel="$1" runs="$2"
shift 2
dir="$(mktemp -d /tmp/jkboot.XXXXXX)"
qemu_pid=""
cleanup() {
    [[ -n "$qemu_pid" ]] && kill -KILL "$qemu_pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT

# The guest uptime /init printed on the line matching PATTERN ("... at 1.23s"), or "-".
stamp() { sed -nE "s/.*javakata-init: $2 at ([0-9.]+)s.*/\\1/p" "$1" | head -1 | grep . || echo -; }

echo "initrd | bytes | run | wall to exec agent (s) | guest uptime: stage1 | modules loaded | copied | stage2 | on-demand modules mounted | exec agent"
for run in $(seq "$runs"); do
    for initrd in "$@"; do
        console="$dir/console.log"
        for attempt in 1 2 3; do
            : > "$console"
            t0=$(date +%s.%N)
            qemu-system-x86_64 -machine q35 -accel tcg -cpu max -smp 1 -m 512 -nodefaults -nographic \
                -serial "file:$console" -kernel "$kernel" -initrd "$initrd" -append "console=ttyS0 panic=-1" \
                -no-reboot &
            qemu_pid=$!
            deadline=$((SECONDS + 120))
            until grep -q 'javakata-init: exec agent at' "$console" || ! kill -0 "$qemu_pid" 2>/dev/null; do
                ((SECONDS < deadline)) || { echo "no 'exec agent' line within 120 s"; exit 1; }
                sleep 0.05
            done
            grep -q 'javakata-init: exec agent at' "$console" && break
            wait "$qemu_pid" 2>/dev/null || true; qemu_pid=""
            echo "$initrd | run $run, attempt $attempt: the guest ended before /init reached the agent:" \
                "$(grep -m1 -o 'Kernel panic.*' "$console" || tail -1 "$console")"
            [[ $attempt -lt 3 ]] || exit 1
        done
        t1=$(date +%s.%N)
        kill -KILL "$qemu_pid" 2>/dev/null; wait "$qemu_pid" 2>/dev/null || true; qemu_pid=""
        echo "$initrd | $(stat -c %s "$initrd") | $run | $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') |" \
            "$(stamp "$console" stage1) | $(stamp "$console" 'modules loaded') | $(stamp "$console" 'copied to tmpfs') |" \
            "$(stamp "$console" stage2) | $(stamp "$console" 'on-demand modules mounted') | $(stamp "$console" 'exec agent')"
    done
done
