#!/usr/bin/env bash
# A private containerd, entirely under one directory: its config, root, state, sockets and log.
# It never touches the system's containerd, its config or its sockets.
#
#   scripts/containerd.sh start DIR   writes DIR/config.toml, starts containerd (log: DIR/containerd.log,
#                                     pid: DIR/containerd.pid), waits until `ctr version` answers
#   scripts/containerd.sh stop DIR    stops containerd, kills shims, QEMU, virtiofsd and vhost-device-vsock it left behind,
#                                     unmounts everything under DIR, removes DIR
#   scripts/containerd.sh config DIR  only writes DIR/config.toml (and the CNI config)
#   scripts/containerd.sh stop-daemon DIR   SIGTERMs containerd only (SIGKILL after 10 s) and keeps everything
#                                     else: DIR, its config and state, the shims, their VMs and the pods' mounts
#   scripts/containerd.sh start-daemon DIR  starts containerd again on the config and state that DIR holds
#                                     (after stop-daemon: it reconnects to the shims it finds there)
#
# The CRI plugin is configured for pods too (docs/testing.md "CRI"): runtime handlers `javakata`
# (io.containerd.javakata.v2, with the shim's configuration, $JAVAKATA_CONFIG or /etc/javakata/configuration.toml;
# with $JAVAKATA_TRANSPORT set, ConfigPath DIR/javakata.toml: that configuration with [agent] transport =
# $JAVAKATA_TRANSPORT), `javakata-debug` (the same with ConfigPath DIR/javakata-debug.toml: [agent] debug_console
# on), `javakata-serial` (ConfigPath DIR/javakata-serial.toml: the shim's configuration with [agent] transport =
# "serial"), `javakata-hvsock` (ConfigPath DIR/javakata-hvsock.toml: the shim's configuration with [agent] transport
# = "hybrid-vsock" and [template] enabled = false), `javakata-template` (ConfigPath DIR/javakata-template.toml: javakata-serial's with [template] enabled =
# true), `javakata-warm` (DIR/javakata-warm.toml: javakata-template's with [runtime] warm_shims = 1; containerd runs
# with JAVAKATA_WARM_DIR=DIR/warm), `javakata-spare` (DIR/javakata-spare.toml: javakata-warm's with [template] spares =
# true), `javakata-ch` (ConfigPath DIR/javakata-ch.toml: the same configuration with
# [hypervisor] type = "cloud-hypervisor", path = $JAVAKATA_CH_BINARY or the cloud-hypervisor on PATH, accel auto, no debug console; only
# CloudHypervisorIT uses it, when that binary and KVM are there), `runc` (io.containerd.runc.v2, state under
# DIR/runc), one more io.containerd.javakata.v2 handler per NAME=FILE word of $JAVAKATA_EXTRA_HANDLERS (ConfigPath
# FILE; the benchmarks compare shim configurations side by side this way), the sandbox image
# localhost/javakata/pause:1 (scripts/build-busybox-image.sh --pause), the streaming server on 127.0.0.1 at a
# free port (DIR/stream.port), pod network namespaces under DIR/state, and a CNI bridge network of its own:
# bridge jk<hash of DIR>, subnet 10.213.<n>.0/24 from the hash, IPAM state under DIR/cni. `stop` deletes the
# bridge.
#
# With JAVAKATA_NODE=1, `start` makes DIR a stand-in for a whole node whose root holds no Java and no javakata
# (DistIT, docs/testing.md "A node with no Java"): containerd runs in a private mount and PID namespace (the node's:
# its PID 1 is a holder process, DIR/node.pid has its host PID) in which tmpfs hides /usr/lib/jvm, /usr/share/javakata
# and /etc/javakata, and DIR/node's etc/containerd, opt, usr/local/bin and run/javakata are bound over the real ones.
# Its configuration is the node's, DIR/node/etc/containerd/config.toml (seen as /etc/containerd/config.toml in the
# namespace), with the runc handler only: installing javakata there is the test's job. DIR/restart-containerd,
# run inside the namespace, restarts it (a node's `systemctl restart containerd`). `stop` ends the namespace.
#
# The gRPC socket is DIR/c.sock: keep DIR short (a Unix socket path has at most 108 bytes).
#
# JAVAKATA_CONTAINERD_BIN=PATH (on start) runs the containerd and ctr found in that directory instead of the
# system's, e.g. a version unpacked by scripts/containerd-versions.sh; later actions on DIR use it too (DIR/bin).
# A containerd 2.x gets a version 3 config (its CRI plugin split into io.containerd.cri.v1.runtime and
# io.containerd.cri.v1.images), older ones version 2; both say the same (docs/containerd-versions.md).
set -euo pipefail
# shellcheck source=lib/toml.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/toml.sh"

usage() { echo "usage: $0 start|stop|config|stop-daemon|start-daemon|restart-in-node DIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
action="$1"
dir="$2"
self=$(readlink -f "$0")
[[ "$dir" == /* ]] || dir="$(pwd)/$dir"
dir="${dir%/}"
sock="$dir/c.sock"
hash="$(printf '%s' "$dir" | sha256sum | cut -c1-10)"
bridge="jk$hash"
subnet="10.213.$(( 16#${hash:0:4} % 250 + 1 )).0/24"
node=false
[[ "${JAVAKATA_NODE:-}" == 1 || -f "$dir/node.pid" ]] && node=true
config="$dir/config.toml"
$node && config="$dir/node/etc/containerd/config.toml"

log() { echo "containerd.sh: $*" >&2; }

# The containerd and ctr binaries: from JAVAKATA_CONTAINERD_BIN at start, remembered in DIR/bin for the rest.
bin_dir=""
if [[ "$action" == start || "$action" == config ]]; then
    bin_dir="${JAVAKATA_CONTAINERD_BIN:-}"
elif [[ -f "$dir/bin" ]]; then
    bin_dir="$(cat "$dir/bin")"
fi
containerd_bin=containerd ctr_bin=ctr
if [[ -n "$bin_dir" ]]; then
    if [[ -x "$bin_dir/containerd" && -x "$bin_dir/ctr" ]]; then
        containerd_bin="$bin_dir/containerd" ctr_bin="$bin_dir/ctr"
    elif [[ "$action" != stop ]]; then
        log "no executable containerd and ctr in $bin_dir"
        exit 1
    fi
fi

# A TCP port on 127.0.0.1 that nothing listens on (the CRI streaming server needs a fixed one: its URLs name it).
free_port() {
    local port
    for _ in $(seq 50); do
        port=$(( 20000 + RANDOM % 20000 ))
        if ! ss -Htln "sport = :$port" | grep -q .; then
            echo "$port"
            return 0
        fi
    done
    log "no free TCP port found for the CRI streaming server"
    exit 1
}

write_cni() {
    mkdir -p "$dir/cni/net.d" "$dir/cni/ipam"
    cat > "$dir/cni/net.d/10-javakata-it.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "jkit-$hash",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$bridge",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$subnet"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$dir/cni/ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
}

# agent_config SRC KEY VALUE: SRC with [agent] KEY = VALUE.
agent_config() { toml_with_key "$1" agent "$2" "$3"; }

# The javakata handlers; none on a stand-in node, whose javakata comes from its installer.
javakata_runtimes() {
    $node && return 0
    cat <<TOML
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.javakata]
      runtime_type = "io.containerd.javakata.v2"
      $(javakata_options '"io.containerd.grpc.v1.cri"')
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.javakata-debug]
      runtime_type = "io.containerd.javakata.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.javakata-debug.options]
        ConfigPath = "$dir/javakata-debug.toml"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.javakata-ch]
      runtime_type = "io.containerd.javakata.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.javakata-ch.options]
        ConfigPath = "$dir/javakata-ch.toml"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.javakata-serial]
      runtime_type = "io.containerd.javakata.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.javakata-serial.options]
        ConfigPath = "$dir/javakata-serial.toml"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.javakata-hvsock]
      runtime_type = "io.containerd.javakata.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.javakata-hvsock.options]
        ConfigPath = "$dir/javakata-hvsock.toml"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.javakata-template]
      runtime_type = "io.containerd.javakata.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.javakata-template.options]
        ConfigPath = "$dir/javakata-template.toml"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.javakata-warm]
      runtime_type = "io.containerd.javakata.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.javakata-warm.options]
        ConfigPath = "$dir/javakata-warm.toml"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.javakata-spare]
      runtime_type = "io.containerd.javakata.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.javakata-spare.options]
        ConfigPath = "$dir/javakata-spare.toml"
TOML
    extra_runtimes '"io.containerd.grpc.v1.cri".containerd' ""
}

# The handlers of $JAVAKATA_EXTRA_HANDLERS ("NAME=FILE ..."), as tables under PREFIX (the plugin's containerd table),
# each line of a table after SANDBOXER (a containerd 2.x sandboxer line, or nothing).
extra_runtimes() {
    local prefix="$1" sandboxer="$2" word name file
    for word in ${JAVAKATA_EXTRA_HANDLERS:-}; do
        name="${word%%=*}" file="${word#*=}"
        if [[ ! "$name" =~ ^[a-z0-9-]+$ || "$word" != *=* || "$file" != /* ]]; then
            log "JAVAKATA_EXTRA_HANDLERS: \"$word\" is not NAME=/absolute/path.toml (NAME of a-z, 0-9 and -)"
            exit 1
        fi
        printf '    [plugins.%s.runtimes.%s]\n      runtime_type = "io.containerd.javakata.v2"\n' "$prefix" "$name"
        [[ -n "$sandboxer" ]] && printf '      %s\n' "$sandboxer"
        printf '      [plugins.%s.runtimes.%s.options]\n        ConfigPath = "%s"\n' "$prefix" "$name" "$file"
    done
}

# The shim's configuration with Cloud Hypervisor as the VMM, for the javakata-ch handler.
write_ch_config() {
    local base="${JAVAKATA_CONFIG:-/etc/javakata/configuration.toml}"
    local binary="${JAVAKATA_CH_BINARY:-$(command -v cloud-hypervisor || echo /usr/local/bin/cloud-hypervisor)}"
    local keys="type = \"cloud-hypervisor\"\npath = \"$binary\"\naccel = \"auto\""
    if [[ ! -r "$base" ]]; then
        printf '[hypervisor]\n%b\n' "$keys" > "$dir/javakata-ch.toml"
        return
    fi
    # The base file's own type, path and accel in [hypervisor], and debug_console in [agent], give way.
    awk -v keys="$keys" '
        /^[ \t]*\[/ { table = $0; gsub(/[ \t]/, "", table) }
        table == "[hypervisor]" && /^[ \t]*(type|path|accel)[ \t]*=/ { next }
        table == "[agent]" && /^[ \t]*debug_console[ \t]*=/ { next }
        { print }
        table == "[hypervisor]" && /^[ \t]*\[/ { printf "%s\n", keys; seen = 1 }
        END { if (!seen) printf "\n[hypervisor]\n%s\n", keys }
    ' "$base" > "$dir/javakata-ch.toml"
}

# The major version of containerd_bin ("containerd github.com/containerd/containerd/v2 2.1.9 ..." gives 2).
containerd_major() {
    "$containerd_bin" --version | awk '{ v = $3; sub(/^v/, "", v); split(v, p, "."); print p[1] }'
}

# The shims' configurations: javakata's (with [agent] transport = $JAVAKATA_TRANSPORT when that is set, else the
# base file as it is), javakata-debug's (javakata's with the debug console on), javakata-serial's (the base with
# the virtio-serial transport), javakata-hvsock's (hybrid vsock, cold boots) and javakata-template's (javakata-serial's with [template] enabled = true).
write_shim_configs() {
    local base="${JAVAKATA_CONFIG:-/etc/javakata/configuration.toml}"
    local main="$base"
    rm -f "$dir/javakata.toml"
    if [[ -n "${JAVAKATA_TRANSPORT:-}" ]]; then
        agent_config "$base" transport "\"$JAVAKATA_TRANSPORT\"" > "$dir/javakata.toml"
        main="$dir/javakata.toml"
    fi
    agent_config "$main" debug_console true > "$dir/javakata-debug.toml"
    agent_config "$base" transport '"serial"' > "$dir/javakata-serial.toml"
    # javakata-hvsock's: the hybrid vsock transport, every pod booting its own VM (a template needs the serial
    # channel): the suite's pods of that transport (AgentTransportsIT, FaultMatrixIT's boot cells, ConfinementIT).
    toml_with_key "$dir/javakata-serial.toml" template enabled false | agent_config /dev/stdin transport '"hybrid-vsock"' \
        > "$dir/javakata-hvsock.toml"
    # javakata-template's: the serial transport (templates need it) with VM templates on (TemplateIT).
    toml_with_key "$dir/javakata-serial.toml" template enabled true > "$dir/javakata-template.toml"
    # javakata-warm's: javakata-template's with one warm shim kept started (WarmShimIT).
    toml_with_key "$dir/javakata-template.toml" runtime warm_shims 1 > "$dir/javakata-warm.toml"
    # javakata-spare's: javakata-warm's whose warm shim also holds a spare VM (WarmSpareIT).
    toml_with_key "$dir/javakata-warm.toml" template spares true > "$dir/javakata-spare.toml"
}

write_config() {
    mkdir -p "$dir" "$(dirname "$config")"
    extra_runtimes check "" > /dev/null   # refuses a malformed JAVAKATA_EXTRA_HANDLERS here, not in a subshell
    printf '%s' "$bin_dir" > "$dir/bin"
    write_cni
    write_shim_configs
    write_ch_config
    local port major
    port="$(free_port)"
    echo "$port" > "$dir/stream.port"
    major="$(containerd_major)"
    if [[ "$major" =~ ^[0-9]+$ ]] && ((major >= 2)); then
        write_config_v3 "$port"
    else
        write_config_v2 "$port"
    fi
}

# The javakata handler's options table for PLUGIN (its ConfigPath when write_shim_configs wrote one).
javakata_options() {
    if [[ -f "$dir/javakata.toml" ]]; then
        printf '[plugins.%s.containerd.runtimes.javakata.options]\n        ConfigPath = "%s"' "$1" "$dir/javakata.toml"
    fi
}

write_config_v2() {
    local port=$1
    cat > "$config" <<TOML
# Private containerd for javakata (scripts/containerd.sh); everything lives under $dir.
version = 2
root = "$dir/root"
state = "$dir/state"

[grpc]
  address = "$sock"

[ttrpc]
  address = "$sock.ttrpc"

[debug]
  # debug makes containerd start shims with -debug.
  level = "debug"

[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/opt"

[plugins."io.containerd.grpc.v1.cri"]
  # root here lacks CAP_SYS_RESOURCE: containerd must not try to lower OOM scores.
  restrict_oom_score_adj = true
  sandbox_image = "localhost/javakata/pause:1"
  stream_server_address = "127.0.0.1"
  stream_server_port = "$port"
  # Pod network namespaces under DIR/state/io.containerd.grpc.v1.cri/netns, not /var/run/netns.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
$(javakata_runtimes)
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "$dir/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni/net.d"
    max_conf_num = 1
TOML
}

# The same settings in containerd 2.x's version 3 layout (containerd docs/cri/config.md at v2.1.9).
write_config_v3() {
    local port=$1
    local javakata_options
    javakata_options="$(javakata_options "'io.containerd.cri.v1.runtime'")"
    cat > "$dir/config.toml" <<TOML
# Private containerd for javakata (scripts/containerd.sh); everything lives under $dir.
version = 3
root = "$dir/root"
state = "$dir/state"

[grpc]
  address = "$sock"

[ttrpc]
  address = "$sock.ttrpc"

[debug]
  # debug makes containerd start shims with -debug.
  level = "debug"

[plugins.'io.containerd.internal.v1.opt']
  path = "$dir/opt"

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "localhost/javakata/pause:1"

[plugins.'io.containerd.cri.v1.runtime']
  # root here lacks CAP_SYS_RESOURCE: containerd must not try to lower OOM scores.
  restrict_oom_score_adj = true
  # Pod network namespaces under DIR/state/io.containerd.grpc.v1.cri/netns, not /var/run/netns.
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.javakata]
      runtime_type = "io.containerd.javakata.v2"
      # containerd's own pod sandbox controller: the pause container is a task like any other.
      sandboxer = "podsandbox"
      $javakata_options
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.javakata-debug]
      runtime_type = "io.containerd.javakata.v2"
      sandboxer = "podsandbox"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.javakata-debug.options]
        ConfigPath = "$dir/javakata-debug.toml"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.javakata-serial]
      runtime_type = "io.containerd.javakata.v2"
      sandboxer = "podsandbox"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.javakata-serial.options]
        ConfigPath = "$dir/javakata-serial.toml"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.javakata-hvsock]
      runtime_type = "io.containerd.javakata.v2"
      sandboxer = "podsandbox"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.javakata-hvsock.options]
        ConfigPath = "$dir/javakata-hvsock.toml"
$(extra_runtimes "'io.containerd.cri.v1.runtime'.containerd" 'sandboxer = "podsandbox"')
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.javakata-template]
      runtime_type = "io.containerd.javakata.v2"
      sandboxer = "podsandbox"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.javakata-template.options]
        ConfigPath = "$dir/javakata-template.toml"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        Root = "$dir/runc"
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "$dir/cni/net.d"
    max_conf_num = 1

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "$port"
TOML
}

answers() { "$ctr_bin" -a "$sock" version >/dev/null 2>&1; }

start() {
    if (( ${#sock} > 100 )); then
        log "socket path $sock is ${#sock} bytes: too long for a Unix socket (limit 108 with .ttrpc); use a shorter DIR"
        exit 1
    fi
    if running; then
        log "already running under $dir (pid $(cat "$dir/containerd.pid"))"
        exit 1
    fi
    write_config
    if $node; then
        start_node
    fi
    launch
}

# The stand-in node's namespaces: a holder process (PID 1 of the new PID namespace) that sets up the mounts.
start_node() {
    local n="$dir/node" d
    for d in etc/containerd opt usr/local/bin run/javakata; do
        mkdir -p "$n/$d"
        chmod 0755 "$n/$d"
    done
    cat > "$dir/node-init.sh" <<SH
set -e
for d in /usr/lib/jvm /usr/share/javakata /etc/javakata; do
    if [ -d "\$d" ]; then mount -t tmpfs -o size=1m,mode=0755 jk-hidden "\$d"; fi
done
mkdir -p /run/javakata
for d in etc/containerd opt usr/local/bin run/javakata; do mount --bind "$n/\$d" "/\$d"; done
touch "$dir/node.ready"
exec -a "jk-node $dir/" sleep infinity
SH
    cat > "$dir/restart-containerd" <<SH
#!/bin/bash
exec "$self" restart-in-node "$dir"
SH
    chmod 0755 "$dir/restart-containerd"
    setsid unshare --mount --pid --fork --mount-proc --propagation private bash "$dir/node-init.sh" \
        </dev/null >>"$dir/node.log" 2>&1 &
    local unshare_pid=$! holder="" deadline=$((SECONDS + 30))
    until [[ -f "$dir/node.ready" && -n "$holder" ]]; do
        holder=$(ps -o pid= --ppid "$unshare_pid" | tr -d ' ' | head -n1 || true)
        if ! kill -0 "$unshare_pid" 2>/dev/null || ((SECONDS >= deadline)); then
            log "the node namespace did not come up within 30 s:"
            cat "$dir/node.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "$holder" > "$dir/node.pid"
    log "node namespace: holder pid $holder, root $n"
}

# Moves this process into the cgroups of the node's PID 1, as systemd starts a service in its own: the caller may be
# a pod's container (the DaemonSet's installer), and a container that stops takes every process of its cgroups along.
leave_callers_cgroups() {
    local id controllers path file
    while IFS=: read -r id controllers path; do
        if [[ -z "$controllers" ]]; then
            # cgroup v2: the unified hierarchy, at the root on a pure v2 host
            if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then file=/sys/fs/cgroup$path/cgroup.procs
            else file=/sys/fs/cgroup/unified$path/cgroup.procs; fi
        else
            file=/sys/fs/cgroup/${controllers#name=}
            [[ -d "$file" ]] || file=/sys/fs/cgroup/${controllers%%,*}   # "cpu,cpuacct" mounted as cpu
            file=$file$path/cgroup.procs
        fi
        [[ -w "$file" ]] && echo $$ > "$file" 2>/dev/null || true
    done < /proc/1/cgroup
}

# Inside the node's namespaces (DIR/restart-containerd): stop containerd and start it again, as systemd would.
restart_in_node() {
    local pid
    pid=$(cat "$dir/containerd.nspid" 2>/dev/null || true)
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/containerd.pid"
    leave_callers_cgroups
    setsid "$containerd_bin" --config "$config" </dev/null >>"$dir/containerd.log" 2>&1 &
    echo $! > "$dir/containerd.nspid"
    await_answer $!
}

running() { [[ -f "$dir/containerd.pid" ]] && kill -0 "$(cat "$dir/containerd.pid")" 2>/dev/null; }

# Starts containerd on DIR/config.toml and waits until it answers.
launch() {
    # setsid: containerd gets its own session, so a Ctrl-C in the caller's terminal reaches only the caller,
    # whose trap then stops containerd in order.
    local pid
    if $node; then
        # nsenter forks into the PID namespace: containerd is its child.
        setsid nsenter --target "$(cat "$dir/node.pid")" --mount --pid -- \
            bash -c 'echo $$ > "$1/containerd.nspid"; exec "$3" --config "$2"' - "$dir" "$config" "$containerd_bin" \
            </dev/null >>"$dir/containerd.log" 2>&1 &
        local nsenter_pid=$! deadline=$((SECONDS + 10))
        pid=""
        while [[ -z "$pid" ]] && ((SECONDS < deadline)); do
            pid=$(ps -o pid= --ppid "$nsenter_pid" | tr -d ' ' | head -n1 || true)
            [[ -n "$pid" ]] || sleep 0.1
        done
        [[ -n "$pid" ]] || { log "containerd did not start in the node namespace"; exit 1; }
    else
        # The warm shims of its javakata-warm pods wait under DIR, not in the node's /run/javakata-warm.
        JAVAKATA_WARM_DIR="$dir/warm" setsid "$containerd_bin" --config "$config" </dev/null \
            >>"$dir/containerd.log" 2>&1 &
        pid=$!
    fi
    echo "$pid" > "$dir/containerd.pid"
    await_answer "$pid"
}

# Waits until containerd (PID $1) answers on DIR/c.sock.
await_answer() {
    local pid=$1 deadline=$((SECONDS + 30))
    until answers; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "containerd exited during start-up; last lines of $dir/containerd.log:"
            tail -n 20 "$dir/containerd.log" >&2
            exit 1
        fi
        if (( SECONDS >= deadline )); then
            log "containerd did not answer on $sock within 30 s; see $dir/containerd.log"
            exit 1
        fi
        sleep 0.1
    done
    log "containerd pid $pid answers on $sock"
}

start_daemon() {
    if [[ ! -f "$config" ]]; then
        log "no $dir/config.toml: start-daemon restarts a containerd that start set up"
        exit 1
    fi
    if running; then
        log "already running under $dir (pid $(cat "$dir/containerd.pid"))"
        exit 1
    fi
    launch
}

# SIGTERM to containerd alone, as systemd's `stop containerd` (KillMode=process) does: shims and pods stay.
stop_daemon() {
    running || { log "no containerd running under $dir"; exit 1; }
    local pid
    pid="$(cat "$dir/containerd.pid")"
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        log "containerd $pid ignored SIGTERM for 10 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    log "containerd pid $pid stopped; its shims keep running"
}

# Pids of processes that belong to this containerd: anything whose command line or environment names
# DIR (shims get -address DIR/c.sock and inherit TTRPC_ADDRESS=DIR/c.sock.ttrpc, which QEMU and
# virtiofsd inherit in turn unless cleared, and which survives re-parenting), plus all their descendants
# (runc's container processes are children of their shim).
owned_pids() {
    local p roots=()
    for p in /proc/[0-9]*; do
        p="${p#/proc/}"
        [[ "$p" == "$$" || "$p" == "$BASHPID" ]] && continue
        {
            if tr '\0' ' ' < "/proc/$p/cmdline" | grep -qF -- "$dir/" ||
               tr '\0' '\n' < "/proc/$p/environ" | grep -qxF -- "TTRPC_ADDRESS=$sock.ttrpc"; then
                roots+=("$p")
            fi
        } 2>/dev/null
    done
    ((${#roots[@]} > 0)) || return 0
    ps -e -o pid=,ppid= | awk -v roots="${roots[*]}" '
        BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) own[r[i]] = 1 }
        { parent[$1] = $2 }
        END {
            do { grew = 0
                 for (c in parent) if (!(c in own) && (parent[c] in own)) { own[c] = 1; grew = 1 }
            } while (grew)
            for (p in own) if (p in parent) print p
        }'
}

# Asks containerd to kill and remove every task and container, in every namespace, so that shims tear
# down their sandboxes themselves. Bounded: whatever is left is killed afterwards.
remove_all() {
    local ns id
    for ns in $(timeout 5 "$ctr_bin" -a "$sock" namespaces ls -q 2>/dev/null); do
        for id in $(timeout 5 "$ctr_bin" -a "$sock" -n "$ns" tasks ls -q 2>/dev/null); do
            timeout 10 "$ctr_bin" -a "$sock" -n "$ns" tasks kill -a -s KILL "$id" >/dev/null 2>&1 || true
            timeout 30 "$ctr_bin" -a "$sock" -n "$ns" tasks rm -f "$id" >/dev/null 2>&1 || true
        done
        for id in $(timeout 5 "$ctr_bin" -a "$sock" -n "$ns" containers ls -q 2>/dev/null); do
            timeout 30 "$ctr_bin" -a "$sock" -n "$ns" containers rm "$id" >/dev/null 2>&1 || true
        done
    done
}

stop() {
    if [[ ! -d "$dir" ]]; then
        return 0
    fi
    local pid=""
    [[ -f "$dir/containerd.pid" ]] && pid="$(cat "$dir/containerd.pid")"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        remove_all
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && { log "containerd $pid ignored SIGTERM for 10 s; killing it"; kill -KILL "$pid" 2>/dev/null || true; }
    elif [[ -f "$dir/node.pid" ]] && answers; then
        # A stand-in node whose containerd was restarted inside its namespace: its host PID is not known here.
        remove_all
    fi
    local left
    left="$(owned_pids)"
    if [[ -n "$left" ]]; then
        log "killing what containerd left behind:"
        for p in $left; do
            echo "  $p $( { tr '\0' ' ' < "/proc/$p/cmdline" | cut -c1-160; } 2>/dev/null)" >&2
        done
        # shellcheck disable=SC2086
        kill -KILL $left 2>/dev/null || true
        for _ in $(seq 50); do [[ -z "$(owned_pids)" ]] && break; sleep 0.1; done
    fi
    # Deepest mount points first.
    local mounts
    mounts="$(awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r | uniq)"
    for m in $mounts; do
        m="$(printf '%b' "$m")"   # mountinfo escapes spaces as \040
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "cannot unmount $m"
    done
    if ip link show "$bridge" >/dev/null 2>&1; then
        ip link delete "$bridge" 2>/dev/null || log "cannot delete the CNI bridge $bridge"
    fi
    rm -rf "$dir"
}

case "$action" in
    start) start ;;
    stop) stop ;;
    config) write_config ;;
    stop-daemon) stop_daemon ;;
    restart-in-node) restart_in_node ;;
    start-daemon) start_daemon ;;
    *) usage ;;
esac
