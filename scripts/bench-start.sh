#!/usr/bin/env bash
# `start` of a container joining a running pod, for docs/benchmarks.md ("start of a joining container"): what
# containerd runs for every container of a pod after the sandbox's own, timed with hyperfine in one run for
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
#   scripts/bench-start.sh [RUNS]      hyperfine runs per command, default 30
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
cleanup() {
    trap - EXIT INT TERM
    local pid_file pid
    for pid_file in "$bundles"/*/shim.pid; do
        [[ -f "$pid_file" ]] || continue
        pid=$(cat "$pid_file")
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
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
hyperfine --warmup 3 --runs "$RUNS" --export-json "$dir/hyperfine.json" "${cmds[@]}"
python3 - "$dir/hyperfine.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
base = r["runc-v2"]["mean"]
print("command | mean ms | stddev ms | median ms | min ms | max ms | mean / runc-v2")
for name, x in r.items():
    print(f'{name} | {x["mean"]*1000:.1f} | {x["stddev"]*1000:.1f} | {x["median"]*1000:.1f} | '
          f'{x["min"]*1000:.1f} | {x["max"]*1000:.1f} | {x["mean"]/base:.2f}')
PY
