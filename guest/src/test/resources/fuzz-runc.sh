#!/bin/bash
# A stand-in for runc for AgentServiceFuzzTest: the command line and --log JSON of fake-runc.sh, but the
# "container" and every exec run `cat` whatever config.json or process.json say: a fuzzed spec must never
# choose what runs on the host.
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
        pidfile=
        while [ $# -gt 1 ]; do
            case "$1" in
                --pid-file) pidfile=$2; shift 2 ;;
                --console-socket) fail "the fuzz runc has no terminals" ;;
                *) shift ;;
            esac
        done
        id=$1
        : > "$root/$id"
        ( while [ ! -e "$root/$id.started" ]; do sleep 0.05; done; exec cat ) 0<&0 &
        echo $! > "$pidfile"
        echo $! > "$root/$id.pid"
        ;;
    start) [ -e "$root/$1" ] || fail "container $1 does not exist"; touch "$root/$1.started" ;;
    exec)
        pidfile=
        while [ $# -gt 1 ]; do
            case "$1" in
                --pid-file) pidfile=$2; shift 2 ;;
                --console-socket) fail "the fuzz runc has no terminals" ;;
                *) shift ;;
            esac
        done
        [ -e "$root/$1.started" ] || fail "container $1 is not running"
        cat 0<&0 &
        echo $! > "$pidfile"
        echo $! >> "$root/$1.execs"
        ;;
    pause) kill -STOP "$(cat "$root/$1.pid")"; echo paused > "$root/$1.status" ;;
    resume) kill -CONT "$(cat "$root/$1.pid")"; echo running > "$root/$1.status" ;;
    update) [ "$1" = --resources ] || fail "update needs --resources"; cp "$2" "$root/$3.resources" ;;
    kill) [ "$1" = --all ] && shift; kill -"$2" "$(cat "$root/$1.pid")" 2>/dev/null; exit 0 ;;
    delete) [ "$1" = --force ] && shift
        # As runc delete --force kills every process of the container's cgroup: the init and the execs.
        for pid in $(cat "$root/$1.pid" "$root/$1.execs" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
        rm -f "$root/$1" "$root/$1.started" "$root/$1.pid" "$root/$1.execs" ;;
    *) fail "unknown command $cmd" ;;
esac
