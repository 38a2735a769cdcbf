#!/usr/bin/env bash
# The walking skeleton, end to end: a private containerd (under a temporary directory this script owns,
# never the system's), a locally built busybox image, and one container run with the javakata runtime:
#
#   ctr run --runtime io.containerd.javakata.v2 --rm localhost/javakata/busybox:1 demo uname -r
#
# Prints the host's kernel release, the container's (the guest kernel's), and how long the container
# took from `ctr run` to its exit. Whatever happens, including Ctrl-C, it stops what it started.
# Expects `make install` to have run (the shim on PATH, the guest assets in /usr/share/javakata).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNTIME=io.containerd.javakata.v2
IMAGE=localhost/javakata/busybox:1
NS=javakata-demo
export PATH="/usr/local/sbin:/usr/local/bin:$PATH"

command -v containerd-shim-javakata-v2 >/dev/null || {
    echo "demo: containerd-shim-javakata-v2 is not on PATH: run 'make install' first" >&2; exit 1; }

dir="$(mktemp -d /tmp/jkdemo.XXXXXX)"
sock="$dir/c.sock"
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    echo "demo: stopping the private containerd and cleaning up $dir"
    "$ROOT/scripts/containerd.sh" stop "$dir" || rc=1
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$ROOT/scripts/build-busybox-image.sh" "$dir/busybox.tar" "$IMAGE" >/dev/null
"$ROOT/scripts/containerd.sh" start "$dir"
ctr -a "$sock" -n "$NS" images import "$dir/busybox.tar" >/dev/null
echo "demo: imported $IMAGE into the private containerd at $sock"

echo "demo: ctr run --runtime $RUNTIME --rm $IMAGE demo uname -r"
start_ns=$(date +%s%N)
set +e
container_kernel=$(timeout 300 ctr -a "$sock" -n "$NS" run --runtime "$RUNTIME" --rm "$IMAGE" demo uname -r 2>"$dir/ctr.err")
rc=$?
set -e
end_ns=$(date +%s%N)
if ((rc != 0)); then
    echo "demo: ctr run failed with exit code $rc:" >&2
    sed 's/^/  /' "$dir/ctr.err" >&2
    echo "demo: last lines of containerd's log ($dir/containerd.log):" >&2
    tail -n 40 "$dir/containerd.log" | sed 's/^/  /' >&2
    exit 1
fi
elapsed_ms=$(( (end_ns - start_ns) / 1000000 ))

printf 'host kernel:      %s\n' "$(uname -r)"
printf 'container kernel: %s\n' "$container_kernel"
printf 'start to exit:    %d.%03d s\n' $((elapsed_ms / 1000)) $((elapsed_ms % 1000))
