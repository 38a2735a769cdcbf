#!/usr/bin/env bash
# Pod start and second container, side by side in one run, for docs/benchmarks.md ("Pod start", "Second
# container"). ROUNDS interleaved rounds (runc, javakata cold, javakata template, floor, runc, ...) on one private
# containerd, through CRI as the kubelet drives it (io.javakata.it.CriBench from integration/'s test classes):
#   runc               RunPodSandbox -> CreateContainer -> StartContainer -> the container's first log line
#   javakata-cold      the same on javakata with [template] enabled = false (every pod boots its VM)
#   javakata-from-template  the same with [template] enabled = true; "not available" when the shim has no [template]
#                      table yet (then javakata-cold runs the base configuration as it is)
#   javakata-spare-template  the same with [runtime] warm_shims = 1 and [template] spares = true: from round 2 on,
#                      the pod's `start` takes over a warm shim and its sandbox takes that shim's spare VM, restored
#                      and rehearsed ahead of it (docs/architecture.md, "Warm shims", "Warm spare VMs")
#   javakata-warm-template  (BENCH_WARM=1) a warm shim without a spare VM: [runtime] warm_shims = 1 alone. It shares
#                      the private containerd's warm shims with javakata-spare-template, so each may take the other's.
#   floor              the bare VM boot floor: the first javakata pod's QEMU command line (same flags, kernel and
#                      kernel parameters; no pod devices, no QMP, no -S) on a busybox initrd whose one-line /init
#                      prints "floor: init reached": QEMU's spawn -> that line on its serial console
# After each javakata pod the run waits until the warm shims its shim started are ready, so that their start-up does
# not run during the next sample.
# And, in each pod once its first container runs, CreateContainer + StartContainer of a second container (and its
# first log line). Prints every sample (with the load average when it started), then medians, min-max and the
# ratios to the floor and to runc.
#
#   scripts/bench-pod-start.sh [ROUNDS]        default 5 rounds
#
# BENCH_GUESTS="NAME=AGENT_IMAGE:INITRD ..." adds, per entry, a handler NAME that runs the template configuration
# with another guest (e.g. the agent image and initrd of an earlier commit, built by guest/image/build.sh): an agent
# change measured side by side with the same shim, kernel and host. Each gets its own template (the guest is part
# of a template's key). BENCH_VMMS="NAME=EXECUTABLE ..." adds, per entry, a handler NAME that runs the template
# configuration with another QEMU binary as hypervisor.path (e.g. a wrapper script that changes a flag before it
# execs QEMU): a VMM change measured side by side; the binary is part of a template's key too.
#
# BENCH_LOG=FILE keeps the private containerd's log there (with the shims' lines: each pod's boot phases,
# `grep "boot phase"`), which otherwise goes with its directory.
#
# The shim: the installed one, or JAVAKATA_SHIM_JAR; its base configuration: JAVAKATA_CONFIG or
# /etc/javakata/configuration.toml (the handlers' configurations derive from it, with boot_timeout_seconds = 300 and
# request_timeout_seconds = 120 so that a loaded machine gives slow figures rather than failed pods; its [runtime]
# state_dir is where the leak check looks: give it a private one on a shared machine).
set -euo pipefail

rounds="${1:-5}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/java-env.sh"
# shellcheck source=lib/it-main.sh
source "$root/scripts/lib/it-main.sh"
# shellcheck source=lib/bench-config.sh
source "$root/scripts/lib/bench-config.sh"
# shellcheck source=lib/templates.sh
source "$root/scripts/lib/templates.sh"

base="${JAVAKATA_CONFIG:-/etc/javakata/configuration.toml}"
jar="${JAVAKATA_SHIM_JAR:-/usr/share/javakata/javakata-shim.jar}"
work="$(mktemp -d /tmp/jkpodstart.XXXXXX)"
# The VM templates the pods build go at the end, unless templates were there before (a node's cache).
templates_note_before "$base"
trap 'rm -rf "$work"; templates_remove_new' EXIT

# The floor's initrd: a static busybox, /dev/console (the kernel opens it for init's output) and a one-line /init.
if ! file -L /usr/bin/busybox | grep -q 'statically linked'; then
    echo "bench-pod-start: /usr/bin/busybox is not statically linked (Debian's busybox-static is)" >&2
    exit 1
fi
mkdir -p "$work/floor/bin" "$work/floor/dev"
cp /usr/bin/busybox "$work/floor/bin/busybox"
mknod -m 600 "$work/floor/dev/console" c 5 1
printf '#!/bin/busybox sh\necho "floor: init reached"\n' > "$work/floor/init"
chmod 0755 "$work/floor/init"
(cd "$work/floor" && find . | cpio -o -H newc --quiet) > "$work/floor.cpio"

# Timeouts for a loaded machine: a pod that runs past the defaults would be a failure, not a figure.
toml_with_key "$base" hypervisor boot_timeout_seconds 300 > "$work/step.toml"
toml_with_key "$work/step.toml" agent request_timeout_seconds 120 > "$work/javakata.toml"
toml_with_key "$work/javakata.toml" template enabled true > "$work/template.toml"
handlers=(runc javakata-cold)
# add_handler NAME: one more handler, running the configuration $work/NAME.toml.
add_handler() { extra+=" $1=$work/$1.toml"; handlers+=("$1"); }
if shim_accepts "$jar" "$work/template.toml"; then
    toml_with_key "$work/javakata.toml" template enabled false > "$work/cold.toml"
    extra="javakata-cold=$work/cold.toml javakata-from-template=$work/template.toml"
    handlers+=(javakata-from-template)
    # From a template with a warm shim kept started, which holds a spare VM: every pod after the first takes both over.
    toml_with_key "$work/template.toml" runtime warm_shims 1 > "$work/javakata-warm-template.toml"
    toml_with_key "$work/javakata-warm-template.toml" template spares true > "$work/javakata-spare-template.toml"
    add_handler javakata-spare-template
    if [[ "${BENCH_WARM:-0}" == 1 ]]; then
        add_handler javakata-warm-template
    fi
    for guest in ${BENCH_GUESTS:-}; do
        name="${guest%%=*}" files="${guest#*=}"
        [[ "$name" != "$guest" && "$files" == *:* ]] \
            || { echo "bench-pod-start: BENCH_GUESTS entry \"$guest\" is not NAME=AGENT_IMAGE:INITRD" >&2; exit 2; }
        for f in "${files%%:*}" "${files#*:}"; do
            [[ -f "$f" ]] || { echo "bench-pod-start: BENCH_GUESTS $name: no file $f" >&2; exit 2; }
        done
        toml_with_key "$work/template.toml" hypervisor agent_image "\"${files%%:*}\"" > "$work/$name.step.toml"
        toml_with_key "$work/$name.step.toml" hypervisor initrd "\"${files#*:}\"" > "$work/$name.toml"
        add_handler "$name"
    done
    for vmm in ${BENCH_VMMS:-}; do
        name="${vmm%%=*}" path="${vmm#*=}"
        [[ "$name" != "$vmm" && -x "$path" ]] \
            || { echo "bench-pod-start: BENCH_VMMS entry \"$vmm\" is not NAME=EXECUTABLE" >&2; exit 2; }
        toml_with_key "$work/template.toml" hypervisor path "\"$path\"" > "$work/$name.toml"
        add_handler "$name"
    done
    template="available"
else
    cp "$work/javakata.toml" "$work/cold.toml"
    extra="javakata-cold=$work/cold.toml"
    template="not available: $jar does not accept a [template] table (it has no VM templates yet)"
fi
handlers+=(floor)
echo "bench-pod-start: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)," \
    "shim $jar, base configuration $base; javakata-from-template: $template"

JAVAKATA_EXTRA_HANDLERS="$extra" run_it_main "$root" "${BENCH_TARGET:-target-bench}" \
    "-Djavakata.it.state=$(toml_state_dir "$base") -Djavakata.bench.floorInitrd=$work/floor.cpio ${BENCH_LOG:+-Djavakata.it.keepLog=$(realpath -m "$BENCH_LOG")} ${BENCH_JAVA_OPTS:-}" \
    io.javakata.it.CriBench "$rounds" "${handlers[@]}"
[[ "$template" == available ]] || echo "summary: javakata-from-template - | not available (${template#not available: })"
