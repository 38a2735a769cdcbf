#!/usr/bin/env bash
# A longer fuzzing run of every wire fuzz target (docs/testing.md, "Fuzzing"): Jazzer in fuzzing mode,
# SECONDS per target, each target in a JVM of its own (the `fuzz` execution of the fuzz-short profile in the
# root pom, which `mvn test` runs for 5 s per target). Prints, per target, the executions and the size of the
# corpus Jazzer keeps in <module>/.cifuzz-corpus/<class>/<method> (it grows from run to run; delete it to start
# afresh). A finding fails the run; Jazzer saves the input as crash-<sha1> in the module's
# src/test/resources/.../<Class>Inputs/<method>/, where `mvn test` replays it from then on.
#
#   scripts/fuzz.sh [SECONDS]            default 60 s per target
#
# The shim's target mounts (bind and tmpfs, in a temporary directory) as TaskServiceTest does: run it as root.
set -euo pipefail

seconds="${1:-60}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/java-env.sh"
log="$(mktemp /tmp/javakata-fuzz.XXXXXX.log)"

cd "$root"
status=0
mvn -B -pl agent-proto,shim,guest -am test-compile surefire:test@fuzz \
    -Djavakata.fuzz.duration="${seconds}s" >"$log" 2>&1 || status=$?

echo "fuzzing ${seconds} s per target (full log: $log)"
grep -E '^Done [0-9]+ runs|^fuzz-stats ' "$log" || true
grep -E '^(\[ERROR\] +[A-Za-z]+FuzzTest|== Java Exception|crash-|Test unit written)' "$log" || true
if [[ $status -ne 0 ]]; then
    echo "fuzz.sh: FAILED (mvn exit $status), see $log" >&2
fi
exit "$status"
