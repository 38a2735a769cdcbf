#!/usr/bin/env bash
# The containerd versions the tests run besides the system's own (Debian 12's 1.6): Debian's builds of other
# suites, taken with scripts/lib/debian-suite.sh (apt-get download + dpkg-deb -x) and unpacked under
# build/containerd/SUITE. Nothing is installed; the system's containerd stays as it is.
#
#   scripts/containerd-versions.sh [SUITE...]     default: trixie unstable (containerd 1.7 and 2.x)
#
# Prints one line per suite, "SUITE VERSION BINDIR", BINDIR holding containerd and ctr (for
# JAVAKATA_CONTAINERD_BIN of scripts/containerd.sh). Cached: a suite already unpacked is only checked, and the
# .deb files stay in debian-suite.sh's cache, so a second run needs no network. Each binary must load on this
# host (ldd finds every library it names); containerd's are Go programs linked to libc alone.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${JAVAKATA_CONTAINERD_VERSIONS_DIR:-$root/build/containerd}"
suites=("$@")
((${#suites[@]} > 0)) || suites=(trixie unstable)

for suite in "${suites[@]}"; do
    dest="$out/$suite"
    bin="$dest/usr/bin"
    if [[ ! -x "$bin/containerd" || ! -x "$bin/ctr" ]]; then
        rm -rf "$dest.tmp"
        "$root/scripts/lib/debian-suite.sh" "$suite" "$dest.tmp" containerd >&2
        rm -rf "$dest"
        mv "$dest.tmp" "$dest"
    fi
    for b in "$bin/containerd" "$bin/ctr"; do
        if missing=$(ldd "$b" 2>&1 | grep 'not found'); then
            echo "containerd-versions: $b from $suite cannot load on this host: $missing" >&2
            exit 1
        fi
    done
    version="$("$bin/containerd" --version | awk '{ print $3 }')"
    [[ -n "$version" ]] || { echo "containerd-versions: $bin/containerd --version printed no version" >&2; exit 1; }
    echo "$suite $version $bin"
done
