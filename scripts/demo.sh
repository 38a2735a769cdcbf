#!/usr/bin/env bash
# The walking skeleton, end to end: a private containerd (under a temporary directory this script owns,
# never the system's), a locally built busybox image, and one container run with the javakata runtime:
#
#   ctr run --runtime io.containerd.javakata.v2 --rm localhost/javakata/busybox:1 demo uname -r
#
# Prints the host's kernel release, the container's (the guest kernel's), and how long the container
# took from `ctr run` to its exit.
#
# Then pod networking: the script makes a network namespace of its own (ip netns add, a veth pair
# whose host end gets 10.214.N.1/30 and whose other end becomes eth0 = 10.214.N.2/30 in the netns,
# as a CNI plugin would), runs busybox httpd in a javakata VM on it with
#   ctr run -d --runtime io.containerd.javakata.v2 --with-ns network:/var/run/netns/<name> ...
# and fetches the page from the host with curl at 10.214.N.2:8080. The page names the kernel that
# served it: the guest's. Whatever happens, including Ctrl-C, it stops what it started (containerd,
# the VM, the netns and its veth pair).
#
# With the default configuration ([template] enabled) the first container's VM also becomes the VM template that
# the second one starts from (docs/architecture.md "VM templates"); the script says which way each VM started, and
# removes the templates at the end if there were none before it ran.
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
netns="jkdemo-$$"
subnet_n=$(( $$ % 250 + 1 ))
host_veth="jkdemo$$"
# shellcheck source=lib/templates.sh
source "$ROOT/scripts/lib/templates.sh"
templates_note_before "${JAVAKATA_CONFIG:-/etc/javakata/configuration.toml}" # the configuration the shim reads without ConfigPath
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    echo "demo: stopping the private containerd and cleaning up $dir"
    "$ROOT/scripts/containerd.sh" stop "$dir" || rc=1
    templates_remove_new || rc=1
    # After containerd.sh stop: the VM that used the netns is gone. Deleting the netns deletes the veth pair.
    if [[ -e "/var/run/netns/$netns" ]]; then
        ip netns delete "$netns" || rc=1
    fi
    if ip link show "$host_veth" >/dev/null 2>&1; then
        ip link delete "$host_veth" || rc=1
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# shellcheck source=lib/busybox-containerd.sh
source "$ROOT/scripts/lib/busybox-containerd.sh"
busybox_containerd_start "$dir" "$NS" "$IMAGE"
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
how_started() { # the shim's account of how VM $1's pod started (templates off: no line, a cold boot)
    local said
    said=$(grep -ho "sandbox $1: \(starts from VM template [0-9a-f]*\|cold boot: [^\"]*\)" "$dir/containerd.log" \
        | tail -1 | sed 's/^sandbox [^:]*: //')
    echo "${said:-cold boot}"
}
printf 'its VM:           %s\n' "$(how_started demo)"

# Pod networking: a web server in a javakata VM, answered at its IP on a network namespace made here.
pod_ip="10.214.$subnet_n.2"
ip netns add "$netns"
ip link add "$host_veth" type veth peer name eth0 netns "$netns"
ip addr add "10.214.$subnet_n.1/30" dev "$host_veth"
ip link set "$host_veth" up
ip -n "$netns" link set lo up
ip -n "$netns" addr add "$pod_ip/30" dev eth0
ip -n "$netns" link set eth0 up
ip -n "$netns" route add default via "10.214.$subnet_n.1"
echo "demo: network namespace $netns: eth0 $pod_ip/30, host end $host_veth 10.214.$subnet_n.1/30"
echo "demo: ctr run -d --runtime $RUNTIME --with-ns network:/var/run/netns/$netns $IMAGE web httpd ..."
ctr -a "$sock" -n "$NS" run -d --runtime "$RUNTIME" --with-ns "network:/var/run/netns/$netns" "$IMAGE" web \
    sh -c 'mkdir -p /www && echo "hello from busybox httpd in a javakata VM, kernel $(uname -r)" > /www/index.html && exec httpd -f -p 8080 -h /www' \
    >/dev/null 2>"$dir/ctr-web.err" || {
    echo "demo: ctr run -d failed:" >&2; sed 's/^/  /' "$dir/ctr-web.err" >&2; exit 1; }
start_ns=$(date +%s%N)
page=""
for _ in $(seq 240); do
    if page=$(curl -fsS --max-time 5 "http://$pod_ip:8080/" 2>/dev/null); then
        break
    fi
    page=""
    sleep 0.5
done
if [[ -z "$page" ]]; then
    echo "demo: no answer from http://$pod_ip:8080/ within 120 s" >&2
    exit 1
fi
elapsed_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
printf 'curl http://%s:8080/ from the host: %s\n' "$pod_ip" "$page"
printf 'server up after:  %d.%03d s (from the container start)\n' $((elapsed_ms / 1000)) $((elapsed_ms % 1000))
printf 'its VM:           %s\n' "$(how_started web)"
ctr -a "$sock" -n "$NS" task kill -s KILL web >/dev/null 2>&1 || true
for _ in $(seq 100); do
    ctr -a "$sock" -n "$NS" task ls -q 2>/dev/null | grep -qx web || break
    status=$(ctr -a "$sock" -n "$NS" task ls 2>/dev/null | awk '$1 == "web" {print $3}')
    [[ "$status" == STOPPED ]] && break
    sleep 0.2
done
ctr -a "$sock" -n "$NS" task rm -f web >/dev/null 2>&1 || true
ctr -a "$sock" -n "$NS" container rm web >/dev/null 2>&1 || true
