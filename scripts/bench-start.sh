#!/usr/bin/env bash
# `start`, for docs/benchmarks.md ("start of a joining container", "start of a pod's sandbox"), timed with hyperfine.
#
# First, `start` of a pod's sandbox, what containerd runs first for every pod, until it has the address of the pod's
# new shim (which stays: before every run hyperfine's --prepare stops the one the last run left), in one run for
#   - javakata: containerd-shim-javakata-v2 start (start's JVM stays as the pod's shim),
#   - containerd-shim-runc-v2 start (the Go shim re-executes itself as the pod's daemon),
#   - javakata-warm: the same with [runtime] warm_shims = 1 and a warm shim started (and ready) before each run,
#     which the timed start takes over,
#   - with JAVAKATA_BASELINE_LAUNCHER=PATH, another javakata launcher (an earlier install's, say) the same way.
#
# Then `start` of a container joining a running pod: what containerd runs for every container of a pod after the
# sandbox's own, in one run for
#   - javakata: containerd-shim-javakata-v2 start (the launcher answers without a JVM),
#   - javakata through the JVM (the same launcher with its JVM-less answer cut out; what every start cost before),
#   - containerd-shim-runc-v2 start (containerd's Go runc shim).
# Each shim first runs `start` for a pod's sandbox, as containerd does before anything else of the pod: that spawns
# the pod's long-lived shim daemon, which is all a joining `start` looks for (no VM and no container are needed, and
# the daemons only connect to containerd to publish an event, which nothing here makes them do). Beside the sandbox's
# bundle a joining bundle gets a config.json saying what CRI writes for a pod's container
# (io.kubernetes.cri.container-type "container", io.kubernetes.cri.sandbox-id the sandbox), and `start` runs there
# with containerd's flags: both shims then only find the pod's running daemon and print its address.
#
#   scripts/bench-start.sh [RUNS]      hyperfine runs per command, default 30 (SANDBOX_RUNS, default 10, for the
#                                      sandboxes' start)
#
# Installs hyperfine from apt when missing. Runs the shim on PATH (make install's) unless PATH names another
# launcher first; JAVAKATA_SHIM_JAR and JAVAKATA_CONFIG are passed on to it as containerd would.
set -euo pipefail

RUNS="${1:-30}"
NS=startbench
export PATH="$PATH:/usr/local/sbin:/usr/local/bin"

command -v hyperfine >/dev/null || apt-get install -y hyperfine >/dev/null
launcher=$(command -v containerd-shim-javakata-v2)
runc_shim=$(command -v containerd-shim-runc-v2)
containerd_bin=$(command -v containerd)

dir="$(mktemp -d /tmp/jkst.XXXXXX)"
bundles="$dir/task/$NS"
sock="$dir/c.sock"  # nothing listens: the daemons would dial it only to publish events
export TTRPC_ADDRESS="$sock.ttrpc"
# stop-pod BUNDLE: the shim that bundle's last start left (shim.pid), SIGTERM and at most 5 s, then SIGKILL, and its
# socket (the address file) removed, as containerd's delete would after a real pod. (containerd-shim-runc-v2's daemon
# exits at once here, with no containerd to connect to, and leaves its socket: its start binds the socket itself and
# hands it to the daemon it spawns, without waiting for it.)
cat > "$dir/stop-pod" <<'SH'
#!/usr/bin/env bash
b=$1
if [[ -s "$b/shim.pid" ]]; then
    pid=$(cat "$b/shim.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
fi
if [[ -s "$b/address" ]]; then a=$(cat "$b/address"); rm -f "${a#unix://}"; fi
rm -f "$b/shim.pid" "$b/address"
SH
chmod 0755 "$dir/stop-pod"
cleanup() {
    trap - EXIT INT TERM
    local b
    for b in "$bundles"/*/; do
        [[ ! -d "$b" ]] || "$dir/stop-pod" "${b%/}"
    done
    local w
    for w in "$dir"/warm/[1-9]*; do
        [[ ! -d "$w" ]] || kill -KILL "${w##*/}" 2>/dev/null || true
    done
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# bundle ID TYPE SANDBOX: a bundle whose config.json carries CRI's annotations for a sandbox or a container.
bundle() {
    mkdir -p "$bundles/$1"
    printf '{"ociVersion":"1.0.2","process":{"args":["sleep","1"],"cwd":"/"},"root":{"path":"rootfs"},%s}' \
        "\"annotations\":{\"io.kubernetes.cri.container-type\":\"$2\",\"io.kubernetes.cri.sandbox-id\":\"$3\"}" \
        > "$bundles/$1/config.json"
}
flags="-namespace $NS -address $sock -publish-binary $containerd_bin"
bundle jpod sandbox jpod
bundle rpod sandbox rpod
bundle jjoin container jpod
bundle rjoin container rpod
j_addr=$(cd "$bundles/jpod" && "$launcher" $flags -id jpod start </dev/null)
r_addr=$(cd "$bundles/rpod" && "$runc_shim" $flags -id rpod start </dev/null)
# What each joining start prints must be its pod's address: check once before timing.
j_out=$(cd "$bundles/jjoin" && "$launcher" $flags -id jjoin start </dev/null)
r_out=$(cd "$bundles/rjoin" && "$runc_shim" $flags -id rjoin start </dev/null)
[[ -n "$j_addr" && "$j_out" == "$j_addr" ]] || { echo "javakata: pod at '$j_addr', join printed '$j_out'" >&2; exit 1; }
[[ -n "$r_addr" && "$r_out" == "$r_addr" ]] || { echo "runc: pod at '$r_addr', join printed '$r_out'" >&2; exit 1; }
echo "javakata pod shim: $j_addr; runc pod shim: $r_addr"

# table HYPERFINE_JSON: the results, and each mean over runc-v2's.
table() {
    python3 - "$1" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
base = r["runc-v2"]["mean"]
print("command | mean ms | stddev ms | median ms | min ms | max ms | mean / runc-v2")
for name, x in r.items():
    print(f'{name} | {x["mean"]*1000:.1f} | {x["stddev"]*1000:.1f} | {x["median"]*1000:.1f} | '
          f'{x["min"]*1000:.1f} | {x["max"]*1000:.1f} | {x["mean"]/base:.2f}')
PY
}

bundle jsand sandbox jsand
bundle rsand sandbox rsand
sand=(-n javakata --prepare "$dir/stop-pod $bundles/jsand"
      "cd $bundles/jsand && $launcher $flags -id jsand start </dev/null"
      -n runc-v2 --prepare "$dir/stop-pod $bundles/rsand"
      "cd $bundles/rsand && $runc_shim $flags -id rsand start </dev/null")
# javakata with a warm shim ([runtime] warm_shims = 1, docs/architecture.md "Warm shims"): before each run,
# --prepare also starts one warm shim (the launcher's `warm 1`, as a pod's shim starts it) and waits until it is
# ready; the timed start takes it over. Its configuration is the base one with warm_shims = 1.
source "$(dirname "${BASH_SOURCE[0]}")/lib/toml.sh"
warm_root="$dir/warm"
toml_with_key "${JAVAKATA_CONFIG:-/etc/javakata/configuration.toml}" runtime warm_shims 1 > "$dir/warm.toml"
cat > "$dir/warm-up" <<SH
#!/usr/bin/env bash
JAVAKATA_WARM_DIR=$warm_root "$launcher" warm 1 </dev/null >/dev/null 2>&1 &
pid=\$!
for _ in \$(seq 300); do [[ -e $warm_root/\$pid/ready ]] && exit 0; kill -0 \$pid 2>/dev/null || exit 1; sleep 0.05; done
exit 1
SH
chmod 0755 "$dir/warm-up"
bundle wsand sandbox wsand
sand+=(-n javakata-warm --prepare "$dir/stop-pod $bundles/wsand && $dir/warm-up"
       "cd $bundles/wsand && JAVAKATA_WARM_DIR=$warm_root JAVAKATA_CONFIG=$dir/warm.toml $launcher $flags -id wsand start </dev/null")
if [[ -n "${JAVAKATA_BASELINE_LAUNCHER:-}" ]]; then
    bundle bsand sandbox bsand
    sand+=(-n javakata-baseline --prepare "$dir/stop-pod $bundles/bsand"
           "cd $bundles/bsand && $JAVAKATA_BASELINE_LAUNCHER $flags -id bsand start </dev/null")
fi
echo "start of a pod's sandbox:"
hyperfine --warmup 1 --runs "${SANDBOX_RUNS:-10}" --export-json "$dir/sandbox.json" "${sand[@]}"
table "$dir/sandbox.json"

cmds=(-n javakata "cd $bundles/jjoin && $launcher $flags -id jjoin start </dev/null"
      -n runc-v2 "cd $bundles/rjoin && $runc_shim $flags -id rjoin start </dev/null")
# The JVM path: a copy of a make-install launcher (which names its JDK) with the JVM-less answer cut out.
if grep -q '^JAVA_HOME_INSTALLED=/' "$launcher"; then
    sed 's/^if \[\[ "\${\*: -1}" == start \]\] && join_pod "\$@"; then$/if false; then/' "$launcher" > "$dir/jvm-launcher"
    chmod 0755 "$dir/jvm-launcher"
    grep -q '^if false; then$' "$dir/jvm-launcher" || { echo "cannot cut join_pod out of $launcher" >&2; exit 1; }
    j_jvm=$(cd "$bundles/jjoin" && "$dir/jvm-launcher" $flags -id jjoin start </dev/null)
    [[ "$j_jvm" == "$j_addr" ]] || { echo "javakata through the JVM printed '$j_jvm'" >&2; exit 1; }
    cmds+=(-n javakata-jvm "cd $bundles/jjoin && $dir/jvm-launcher $flags -id jjoin start </dev/null")
fi
echo "start of a joining container:"
hyperfine --warmup 3 --runs "$RUNS" --export-json "$dir/hyperfine.json" "${cmds[@]}"
table "$dir/hyperfine.json"
