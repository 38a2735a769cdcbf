#!/bin/bash
# make-aot-cache.sh JAR [JAVA]: writes JAR's AOT cache (JEP 483/514), "${JAR%.jar}.aot", which the launcher
# containerd-shim-javakata-v2 uses when present. `make install` runs it after installing the jar, a release's
# bin/javakata-install with the release's own java after installing the release.
#
# The cache holds the classes a training run loaded and linked, and it is only valid for that exact jar and for
# compatible JVM options, so it is rebuilt on every install. The training run is a real `start` that spawns a `serve`
# daemon, in a throw-away bundle and state directory, with no containerd: the daemon's event publisher connects lazily,
# so it never notices. The daemon is then stopped with SIGTERM through the shim.pid it wrote.
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
OPTS=(-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xms8m -Xmx96m -Xss512k -XX:+UnlockDiagnosticVMOptions
      -XX:ArchiveRelocationMode=0 -XX:TrimNativeHeapInterval=10000 -XX:-UsePerfData --enable-native-access=ALL-UNNAMED
      --sun-misc-unsafe-memory-access=allow)

jar=${1:?usage: make-aot-cache.sh JAR [JAVA]}
jar=$(readlink -f "$jar")
aot="${jar%.jar}.aot"
work=$(mktemp -d /tmp/javakata-aot.XXXXXX)
daemon_pid=""

cleanup() {
    if [[ -n "$daemon_pid" ]] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$daemon_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
    rm -f "$aot.tmp" "$aot.tmp.config"
}
trap cleanup EXIT

mkdir -p "$work/bundle" "$work/state"
cat > "$work/bundle/config.json" <<'JSON'
{"ociVersion":"1.0.2","process":{"args":["true"],"cwd":"/"},"root":{"path":"rootfs"},
 "annotations":{"io.kubernetes.cri.container-type":"sandbox","io.kubernetes.cri.sandbox-id":"aot-training"}}
JSON
printf '[runtime]\nstate_dir = "%s"\n' "$work/state" > "$work/config.toml"

rm -f "$aot"
if ! (cd "$work/bundle" && JAVAKATA_CONFIG="$work/config.toml" TTRPC_ADDRESS="$work/none.sock.ttrpc" \
        "$JAVA" "${OPTS[@]}" "-XX:AOTCacheOutput=$aot.tmp" -jar "$jar" \
        -namespace aot -address "$work/containerd.sock" -id aot-training start \
        </dev/null >"$work/training.log" 2>&1); then
    echo "make-aot-cache: the training run failed; no AOT cache (the shim works without one):" >&2
    cat "$work/training.log" >&2
    [[ -f "$work/bundle/shim.pid" ]] && daemon_pid=$(cat "$work/bundle/shim.pid")
    exit 1
fi
[[ -f "$work/bundle/shim.pid" ]] && daemon_pid=$(cat "$work/bundle/shim.pid")
mv "$aot.tmp" "$aot"
echo "make-aot-cache: wrote $aot ($(du -h "$aot" | cut -f1))"
