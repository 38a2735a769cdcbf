#!/bin/bash
# make-aot-cache.sh JAR [JAVA]: writes JAR's AOT cache (JEP 483/514), "${JAR%.jar}.aot", which the launcher
# containerd-shim-javakata-v2 gives every JVM it runs when present. `make install` runs it after installing the jar, a
# release's bin/javakata-install with the release's own java after installing the release.
#
# A cache holds the classes a training run loaded and linked, and it is only valid for that exact jar and for
# compatible JVM options, so it is rebuilt on every install. The training run is a pod's first `start`, the JVM that
# stays as the pod's shim and whose start-up is on every pod's critical path: in a throw-away bundle and state
# directory, with no containerd (the shim's event publisher connects lazily, so it never notices), until it serves;
# then SIGTERM, and the JVM writes the cache as it exits. With JAVAKATA_AOT_TRAINING set the shim first loads the
# classes a real pod's shim loads (the jar's serve-classes.txt, written by scripts/make-serve-classlist.sh), so that
# they are in the cache too.
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
work=$(mktemp -d /tmp/javakata-aot.XXXXXX)
shim_pid=""

cleanup() {
    if [[ -n "$shim_pid" ]] && kill -0 "$shim_pid" 2>/dev/null; then
        kill -KILL "$shim_pid" 2>/dev/null || true
        wait "$shim_pid" 2>/dev/null || true
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

# The pod's first start until it serves (30 s at most: it writes shim.pid once it listens and handles SIGTERM), then
# SIGTERM; the JVM writes the cache on its way out (120 s at most: it runs a second JVM to assemble it).
rm -f "$aot" "${jar%.jar}-serve.aot"
(cd "$work/bundle" && exec env JAVAKATA_CONFIG="$work/config.toml" TTRPC_ADDRESS="$work/none.sock.ttrpc" \
    JAVAKATA_AOT_TRAINING=1 "$JAVA" "${OPTS[@]}" "-XX:AOTCacheOutput=$aot.tmp" -jar "$jar" \
    -namespace aot -address "$work/containerd.sock" -id aot-training start \
    </dev/null >"$work/training.log" 2>&1) &
shim_pid=$!
for _ in $(seq 300); do [[ -s "$work/bundle/shim.pid" ]] && break; kill -0 "$shim_pid" 2>/dev/null || break; sleep 0.1; done
if [[ ! -s "$work/bundle/shim.pid" ]]; then
    echo "make-aot-cache: the training run did not serve within 30 s; no AOT cache (the shim works without one):" >&2
    cat "$work/training.log" >&2
    exit 1
fi
kill -TERM "$shim_pid"
for _ in $(seq 1200); do kill -0 "$shim_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$shim_pid" 2>/dev/null || [[ ! -s "$aot.tmp" ]]; then
    echo "make-aot-cache: the training run did not write its cache; no AOT cache (the shim works without one):" >&2
    cat "$work/training.log" >&2
    exit 1
fi
mv "$aot.tmp" "$aot"
echo "make-aot-cache: wrote $aot ($(du -h "$aot" | cut -f1))"
