#!/usr/bin/env bash
# Installs, from Debian's apt, what javakata needs to build, install and test, and only what is
# missing: a machine that already has everything gets no apt call at all. Idempotent.
#
#   scripts/install-deps.sh
#
# Java 25 is not a Debian package: it must already be at $JAVAKATA_JAVA_HOME (default in
# scripts/java-env.sh); this script only checks it.
set -euo pipefail

. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/java-env.sh"
JDK="$JAVAKATA_JAVA_HOME"

# Runtime: containerd + ctr, runc (host side, for runc comparisons; the guest carries crun),
# QEMU (with the C virtiofsd in qemu-system-common), CNI plugins.
# Build: maven; the guest image: busybox-static, cpio, xz-utils, kmod (depmod), squashfs-tools (the image of
# on-demand modules), patchelf (points the guest's crun, from trixie, at its own loader and libraries).
# Scripts and tests: jq, iproute2, procps (pgrep), util-linux (findmnt, nsenter), curl (the demo).
PACKAGES=(
    containerd runc qemu-system-x86 busybox-static containernetworking-plugins
    cpio xz-utils zstd kmod squashfs-tools patchelf jq iproute2 procps util-linux maven ca-certificates curl
)
# The guest image's own build may name more packages (one per line) in guest/image/packages.txt.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -r "$ROOT/guest/image/packages.txt" ]]; then
    while read -r pkg _; do
        [[ -n "$pkg" && "$pkg" != \#* ]] && PACKAGES+=("$pkg")
    done < "$ROOT/guest/image/packages.txt"
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: must run as root (it installs Debian packages)" >&2
    exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == installed ]] || missing+=("$pkg")
done

if ((${#missing[@]} > 0)); then
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    echo "install-deps: all ${#PACKAGES[@]} packages already installed"
fi

# vhost-device-vsock, the vhost-user vsock backend of QEMU's hybrid vsock ([agent] transport = "hybrid-vsock"), is
# packaged in Debian's unstable suite only (it needs libc >= 2.34 and libgcc, which bookworm has): unpacked into
# build/deps/unstable, never installed over the system; make install copies its binary to /usr/libexec/javakata.
VHOST_DEVICE_VSOCK=vhost-device-vsock=0.3.0-2
if [[ -x "$ROOT/build/deps/unstable/usr/bin/vhost-device-vsock" ]]; then
    echo "install-deps: vhost-device-vsock already unpacked in build/deps/unstable"
else
    "$ROOT/scripts/lib/debian-suite.sh" unstable "$ROOT/build/deps/unstable" "$VHOST_DEVICE_VSOCK"
fi

if [[ ! -x "$JDK/bin/java" ]]; then
    echo "install-deps: Java 25 not found: $JDK/bin/java does not exist." >&2
    echo "  javakata needs Temurin 25 (Eclipse Adoptium) at $JDK, or set JAVAKATA_JAVA_HOME to another JDK 25." >&2
    exit 1
fi
version=$("$JDK/bin/java" -XshowSettings:properties -version 2>&1 | awk -F' = ' '/java.specification.version/ {print $2}')
if [[ "$version" != 25 ]]; then
    echo "install-deps: $JDK is Java '$version', javakata needs Java 25" >&2
    exit 1
fi
echo "install-deps: Java 25 at $JDK"
