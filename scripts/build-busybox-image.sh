#!/usr/bin/env bash
# Builds a one-layer busybox image as an OCI image archive (oci-layout, index.json, blobs/sha256/...),
# from Debian's busybox-static, without any registry. The archive is reproducible: same busybox,
# same bytes.
#
#   scripts/build-busybox-image.sh OUT.tar [REF]          REF defaults to localhost/javakata/busybox:1
#   scripts/build-busybox-image.sh --pause OUT.tar [REF]  the CRI sandbox (pause) image, REF defaults to
#                                                         localhost/javakata/pause:1: the same busybox with
#                                                         entrypoint /pause, a shell script that sleeps until
#                                                         SIGTERM or SIGINT and then exits 0
#
# Import it with (the index names the image by its full REF, so no --base-name is needed; containerd
# 1.6.20's `--index-name` fails on an OCI archive: "content digest sha256:<index>: not found"):
#   ctr -a SOCK -n NS images import OUT.tar
set -euo pipefail
# shellcheck source=lib/oci-image.sh
source "$(dirname "$0")/lib/oci-image.sh"

pause=false
if [[ "${1:-}" == --pause ]]; then
    pause=true
    shift
fi
if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 [--pause] OUT.tar [REF]" >&2
    exit 2
fi
out="$1"
if $pause; then
    ref="${2:-localhost/javakata/pause:1}"
else
    ref="${2:-localhost/javakata/busybox:1}"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
install_busybox "$rootfs"
layer_paths=(bin etc root tmp)
process='{"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]}'
if $pause; then
    # PID 1 of the pod's sandbox container: the kernel delivers it only signals it handles, so trap them.
    cat > "$rootfs/pause" <<'SH'
#!/bin/sh
# javakata's pause: holds the pod's namespaces; exits 0 on SIGTERM or SIGINT.
trap 'exit 0' TERM INT
while :; do
    sleep 86400 &
    wait $!
done
SH
    chmod 0755 "$rootfs/pause"
    layer_paths+=(pause)
    process='{"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Entrypoint": ["/pause"]}'
fi

write_oci_image "$rootfs" "$work" "$out" "$ref" "javakata scripts/build-busybox-image.sh" "$process" \
    "${layer_paths[@]}"
echo "build-busybox-image: $out ($ref, manifest $OCI_MANIFEST_DIGEST)"
