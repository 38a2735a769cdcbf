#!/usr/bin/env bash
# Builds a one-layer image with iptables and busybox as an OCI image archive, from Debian's own packages
# (iptables and the libraries it links against, fetched with `apt-get download` and unpacked with
# dpkg-deb -x, no maintainer script run). What a service mesh's init container needs to install its
# redirection rules: both iptables-legacy and iptables-nft, with every xtables extension.
#
#   scripts/build-iptables-image.sh OUT.tar [REF]      REF defaults to localhost/javakata/iptables:1
#
# No `iptables` name is made: Debian's postinst picks it with update-alternatives, which does not run here;
# call iptables-legacy or iptables-nft. The .deb files are kept in $JAVAKATA_DEB_CACHE (default: OUT's
# directory /debs), so a rebuild needs no network.
set -euo pipefail
# shellcheck source=lib/oci-image.sh
source "$(dirname "$0")/lib/oci-image.sh"

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 OUT.tar [REF]" >&2
    exit 2
fi
out="$1"
ref="${2:-localhost/javakata/iptables:1}"
debs="${JAVAKATA_DEB_CACHE:-$(dirname "$out")/debs}"
# iptables' Depends (apt-cache depends iptables) and theirs, less netbase (/etc/protocols and /etc/services,
# which name lookups only need: rules here use numbers).
packages=(iptables libip4tc2 libip6tc2 libxtables12 libmnl0 libnetfilter-conntrack3 libnfnetlink0 libnftnl11 libc6)

mkdir -p "$debs"
missing=()
for p in "${packages[@]}"; do
    compgen -G "$debs/${p}_*.deb" >/dev/null || missing+=("$p")
done
if ((${#missing[@]})); then
    # apt-get download needs the package lists; fetch them once if this machine never did.
    if ! (cd "$debs" && apt-get download -q "${missing[@]}" >/dev/null 2>&1); then
        apt-get update -q >/dev/null
        (cd "$debs" && apt-get download -q "${missing[@]}" >/dev/null)
    fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
install_busybox "$rootfs"
for p in "${packages[@]}"; do
    # The newest cached version, should several be there.
    deb=$(find "$debs" -name "${p}_*.deb" | sort -V | tail -n 1)
    dpkg-deb -x "$deb" "$rootfs"
done
for tool in iptables-legacy iptables-nft; do
    [[ -e "$rootfs/usr/sbin/$tool" ]] || { echo "$0: no /usr/sbin/$tool in the iptables package" >&2; exit 1; }
done
mkdir -p "$rootfs/run"

process='{"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]}'
mapfile -t layer_paths < <(find "$rootfs" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort)
write_oci_image "$rootfs" "$work" "$out" "$ref" "javakata scripts/build-iptables-image.sh (Debian iptables)" \
    "$process" "${layer_paths[@]}"
echo "build-iptables-image: $out ($ref, manifest $OCI_MANIFEST_DIGEST)"
