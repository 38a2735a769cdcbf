#!/bin/bash
# make-aot-cache.sh JAR [JAVA]: writes JAR's AOT caches (JEP 483/514): "${JAR%.jar}.aot", which the launcher
# containerd-shim-javakata-v2 gives `start` and `delete` when present, and "${JAR%.jar}-serve.aot", which `start` gives
# the `serve` daemon it spawns (DaemonCommand). `make install` runs it after installing the jar, a release's
# bin/javakata-install with the release's own java after installing the release.
#
# A cache holds the classes a training run loaded and linked, and it is only valid for that exact jar and for
# compatible JVM options, so both are rebuilt on every install. One cache per action: each JVM maps only what its own
# action loads, and a daemon's start-up is on every pod's critical path. The first training run is a real `start` that
# spawns a `serve` daemon, in a throw-away bundle and state directory, with no containerd: the daemon's event publisher
# connects lazily, so it never notices. The daemon is then stopped with SIGTERM through the shim.pid it wrote. The
# second runs `serve` itself the same way until it listens, then stops it with SIGTERM: the JVM writes the cache as it
# exits. With JAVAKATA_AOT_TRAINING set, that daemon first loads the classes a real pod's shim loads (the jar's
# serve-classes.txt, written by scripts/make-serve-classlist.sh), so that they are in its cache too.
set -euo pipefail

# The java the launcher runs; a cache is only valid for it. make install's launcher runs the JDK of scripts/java-env.sh;
# a release's installer (bin/javakata-install) names its own jlink'd runtime as the second argument.
if [[ -n "${2:-}" ]]; then
    JAVA=$2
else
    . "$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../.." && pwd)/scripts/java-env.sh"
    JAVA=$JAVAKATA_JAVA_HOME/bin/java
fi
# Keep in step with the launcher's options, minus -Xshare:auto and -Xlog:disable (the JVM refuses -Xshare with
# -XX:AOTCacheOutput, and the training output goes to a log file).
OPTS=(-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xms8m -XX:NewSize=1m -Xmx96m -Xss512k -XX:+UnlockDiagnosticVMOptions
      -XX:ArchiveRelocationMode=0 -XX:TrimNativeHeapInterval=10000 -XX:-UsePerfData --enable-native-access=ALL-UNNAMED
      --sun-misc-unsafe-memory-access=allow)

jar=${1:?usage: make-aot-cache.sh JAR [JAVA]}
jar=$(readlink -f "$jar")
aot="${jar%.jar}.aot"
serve_aot="${jar%.jar}-serve.aot"
work=$(mktemp -d /tmp/javakata-aot.XXXXXX)
# Every training daemon started, stopped on the way out whatever happened: none may outlive the script.
daemon_pids=()

# stop PID: SIGTERM, 5 s, SIGKILL.
stop() {
    kill -0 "$1" 2>/dev/null || return 0
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
}

cleanup() {
    local pid
    for pid in "${daemon_pids[@]}"; do stop "$pid"; done
    rm -rf "$work"
    rm -f "$aot.tmp" "$aot.tmp.config" "$serve_aot.tmp" "$serve_aot.tmp.config"
}
trap cleanup EXIT

mkdir -p "$work/bundle" "$work/state"
cat > "$work/bundle/config.json" <<'JSON'
{"ociVersion":"1.0.2","process":{"args":["true"],"cwd":"/"},"root":{"path":"rootfs"},
 "annotations":{"io.kubernetes.cri.container-type":"sandbox","io.kubernetes.cri.sandbox-id":"aot-training"}}
JSON
printf '[runtime]\nstate_dir = "%s"\n' "$work/state" > "$work/config.toml"

rm -f "$aot" "$serve_aot"
if ! (cd "$work/bundle" && JAVAKATA_CONFIG="$work/config.toml" TTRPC_ADDRESS="$work/none.sock.ttrpc" \
        "$JAVA" "${OPTS[@]}" "-XX:AOTCacheOutput=$aot.tmp" -jar "$jar" \
        -namespace aot -address "$work/containerd.sock" -id aot-training start \
        </dev/null >"$work/training.log" 2>&1); then
    echo "make-aot-cache: the training run failed; no AOT cache (the shim works without one):" >&2
    cat "$work/training.log" >&2
    [[ -f "$work/bundle/shim.pid" ]] && daemon_pids+=("$(cat "$work/bundle/shim.pid")")
    exit 1
fi
if [[ -f "$work/bundle/shim.pid" ]]; then
    daemon_pids+=("$(cat "$work/bundle/shim.pid")")
    stop "${daemon_pids[-1]}"
fi
mv "$aot.tmp" "$aot"
echo "make-aot-cache: wrote $aot ($(du -h "$aot" | cut -f1))"

# The daemon's own cache: `serve` until it serves (30 s at most: it writes shim.pid once it listens and handles SIGTERM),
# then SIGTERM; the JVM writes the cache on its way out (120 s at most: it spawns a second JVM to assemble it).
mkdir -p "$work/serve-bundle"
cp "$work/bundle/config.json" "$work/serve-bundle/config.json"
(cd "$work/serve-bundle" && exec env JAVAKATA_CONFIG="$work/config.toml" TTRPC_ADDRESS="$work/none.sock.ttrpc" \
    JAVAKATA_AOT_TRAINING=1 \
    "$JAVA" "${OPTS[@]}" "-XX:AOTCacheOutput=$serve_aot.tmp" -jar "$jar" -namespace aot \
    -address "$work/containerd.sock" -id aot-serve -bundle "$work/serve-bundle" -socket "$work/serve.sock" serve \
    </dev/null >"$work/serve-training.log" 2>&1) &
serve_pid=$!
daemon_pids+=("$serve_pid")
for _ in $(seq 300); do [[ -s "$work/serve-bundle/shim.pid" ]] && break; kill -0 "$serve_pid" 2>/dev/null || break; sleep 0.1; done
if [[ ! -s "$work/serve-bundle/shim.pid" ]]; then
    echo "make-aot-cache: the serve training run did not listen within 30 s; no cache for serve:" >&2
    cat "$work/serve-training.log" >&2
    exit 1
fi
kill -TERM "$serve_pid"
for _ in $(seq 1200); do kill -0 "$serve_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$serve_pid" 2>/dev/null || [[ ! -s "$serve_aot.tmp" ]]; then
    echo "make-aot-cache: the serve training run did not write its cache; no cache for serve:" >&2
    cat "$work/serve-training.log" >&2
    exit 1
fi
mv "$serve_aot.tmp" "$serve_aot"
echo "make-aot-cache: wrote $serve_aot ($(du -h "$serve_aot" | cut -f1))"
