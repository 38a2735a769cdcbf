#!/bin/bash
# A stand-in for runc on the host, for ContainerManagerTest: same command line, same --log JSON,
# and the "container" is a shell running process.args of config.json once `start` was called.
set -u
root= log=
while [ $# -gt 0 ]; do
    case "$1" in
        --root) root=$2; shift 2 ;;
        --log) log=$2; shift 2 ;;
        --log-format) shift 2 ;;
        *) break ;;
    esac
done
cmd=$1; shift
fail() { printf '{"level":"error","msg":"%s","time":"now"}\n' "$1" >> "$log"; echo "$1" >&2; exit 1; }
mkdir -p "$root"
case "$cmd" in
    create)
        bundle= pidfile=
        while [ $# -gt 1 ]; do
            case "$1" in
                --bundle) bundle=$2; shift 2 ;;
                --pid-file) pidfile=$2; shift 2 ;;
                *) shift ;;
            esac
        done
        id=$1
        arg0=$(jq -r '.process.args[0]' "$bundle/config.json")
        command -v "$arg0" >/dev/null || fail "runc create failed: unable to start container process: exec: \\\"$arg0\\\": executable file not found in \$PATH"
        echo "$bundle" > "$root/$id"
        # The init waits for `start`, then runs the args, with runc's stdio (the agent's FIFOs).
        ( while [ ! -e "$root/$id.started" ]; do sleep 0.02; done
          mapfile -t args < <(jq -r '.process.args[]' "$bundle/config.json")
          exec "${args[@]}" ) 0<&0 &
        echo $! > "$pidfile"
        echo $! > "$root/$id.pid"
        # A fake /proc and cgroup2 mount beside --root when the test made them: the init's cgroup
        # (<cg>/<id>, its cgroup.procs listing the init) and its NSpid, PID 1 of a namespace of its
        # own if the spec's annotation fake.own-pid-ns is "true".
        if [ -d "$root/../proc" ]; then
            mkdir -p "$root/../proc/$!" "$root/../cg/$id"
            echo "0::/$id" > "$root/../proc/$!/cgroup"
            echo $! > "$root/../cg/$id/cgroup.procs"
            if [ "$(jq -r '.annotations["fake.own-pid-ns"] // ""' "$bundle/config.json")" = true ]; then
                printf 'Name:\tsh\nNSpid:\t%s\t1\n' $! > "$root/../proc/$!/status"
            else
                printf 'Name:\tsh\nNSpid:\t%s\n' $! > "$root/../proc/$!/status"
            fi
        fi
        ;;
    start) [ -e "$root/$1" ] || fail "container $1 does not exist"; touch "$root/$1.started" ;;
    exec)
        pidfile= process=
        while [ $# -gt 1 ]; do
            case "$1" in
                --pid-file) pidfile=$2; shift 2 ;;
                --process) process=$2; shift 2 ;;
                --console-socket) fail "the fake runc has no terminals" ;;
                *) shift ;;
            esac
        done
        [ -e "$root/$1.started" ] || fail "container $1 is not running"
        arg0=$(jq -r '.args[0]' "$process")
        command -v "$arg0" >/dev/null || fail "exec failed: exec: \\\"$arg0\\\": executable file not found in \$PATH"
        ( mapfile -t args < <(jq -r '.args[]' "$process"); exec "${args[@]}" ) 0<&0 &
        echo $! > "$pidfile"
        ;;
    pause) kill -STOP "$(cat "$root/$1.pid")"; echo paused > "$root/$1.status" ;;
    resume) kill -CONT "$(cat "$root/$1.pid")"; echo running > "$root/$1.status" ;;
    update) [ "$1" = --resources ] || fail "update needs --resources"; cp "$2" "$root/$3.resources" ;;
    kill) [ "$1" = --all ] && shift; kill -"$2" "$(cat "$root/$1.pid")" 2>/dev/null; exit 0 ;;
    delete) [ "$1" = --force ] && shift
        kill -9 "$(cat "$root/$1.pid" 2>/dev/null)" 2>/dev/null
        rm -f "$root/$1" "$root/$1.started" "$root/$1.pid" ;;
    *) fail "unknown command $cmd" ;;
esac
