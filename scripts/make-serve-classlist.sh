#!/usr/bin/env bash
# make-serve-classlist.sh: writes the classes a pod's shim (the JVM of the pod's first `start`) loads over a pod's
# life into shim/src/main/resources/io/javakata/shim/cli/serve-classes.txt. make-aot-cache.sh's training run loads
# them (AotTraining) so that the shim's AOT cache holds them; re-run this after a change that makes the shim use
# other classes (the shim's AotTrainingTest fails when a listed class is gone), then `make install`.
#
# The pods are real: two CRI pods on one private containerd (io.javakata.it.CriBench, the kubelet's calls), the first
# building a VM template in a private state directory, the second restored from it, each with a second container;
# the installed shim, its launcher copied with one more JVM option that logs every class loaded. Kept: the classes
# of the pods' shim JVMs that came from the jar, the JDK or the AOT cache; left out: generated ones (lambdas, method
# handles' forms, proxies), which no name can load.
#
#   scripts/make-serve-classlist.sh        base configuration: JAVAKATA_CONFIG or /etc/javakata/configuration.toml
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/java-env.sh"
# shellcheck source=lib/it-main.sh
source "$root/scripts/lib/it-main.sh"
# shellcheck source=lib/bench-config.sh
source "$root/scripts/lib/bench-config.sh"

base="${JAVAKATA_CONFIG:-/etc/javakata/configuration.toml}"
launcher="$(command -v containerd-shim-javakata-v2)" || { echo "make-serve-classlist: no containerd-shim-javakata-v2 on PATH (make install)" >&2; exit 1; }
out="$root/shim/src/main/resources/io/javakata/shim/cli/serve-classes.txt"
work="$(mktemp -d /tmp/jkclasses.XXXXXX)"
# A state directory of its own: the first pod builds a template there, and nothing of it outlives the run.
state=/run/javakata-classlist
[[ ! -e "$state" ]] || { echo "make-serve-classlist: $state exists (a run in progress, or left behind)" >&2; exit 1; }
trap 'rm -rf "$work" "$state"' EXIT
mkdir -p "$work/bin" "$work/log"

# The launcher, logging class loads: one file per JVM.
sed "s#^    -Xlog:disable\$#&\n    -Xlog:class+load=info:file=$work/log/classes-%p.log#" "$launcher" > "$work/bin/containerd-shim-javakata-v2"
grep -q 'class+load' "$work/bin/containerd-shim-javakata-v2" \
    || { echo "make-serve-classlist: $launcher has no '    -Xlog:disable' line to add the option after" >&2; exit 1; }
chmod 0755 "$work/bin/containerd-shim-javakata-v2"

toml_with_key "$base" runtime state_dir "\"$state\"" > "$work/step.toml"
toml_with_key "$work/step.toml" template enabled true > "$work/step2.toml"
toml_with_key "$work/step2.toml" hypervisor boot_timeout_seconds 300 > "$work/step3.toml"
toml_with_key "$work/step3.toml" agent request_timeout_seconds 120 > "$work/train.toml"

PATH="$work/bin:$PATH" JAVAKATA_EXTRA_HANDLERS="javakata-classlist=$work/train.toml" \
    run_it_main "$root" "${BENCH_TARGET:-target-bench}" "-Djavakata.it.state=$state" \
    io.javakata.it.CriBench 2 javakata-classlist

# The pods' shims' logs: the JVMs that loaded the task service.
serve_logs=()
for log in "$work"/log/classes-*.log; do
    grep -q '\] io\.javakata\.shim\.task\.TaskService source:' "$log" && serve_logs+=("$log")
done
((${#serve_logs[@]} >= 2)) || { echo "make-serve-classlist: ${#serve_logs[@]} shim JVM log(s), expected one per pod" >&2; exit 1; }

{
    echo "# The classes a pod's shim loads, from a CRI run of two pods (template build, restore): written by"
    echo "# scripts/make-serve-classlist.sh, loaded by make-aot-cache.sh's training run (AotTraining)."
    cat "${serve_logs[@]}" \
        | sed -n 's/^\[[^]]*\]\[info\]\[class,load\] \([^ ]*\) source: \(shared objects file\|jrt:\/\|file:\|jar:\).*/\1/p' \
        | grep -v -e '/' -e '\$\$Lambda' -e '^jdk\.proxy' -e '\$Proxy' \
        | LC_ALL=C sort -u
} > "$out.tmp"
mv "$out.tmp" "$out"
echo "make-serve-classlist: $(grep -vc '^#' "$out") classes from ${#serve_logs[@]} shim JVMs in $out"
