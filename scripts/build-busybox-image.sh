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
busybox=/bin/busybox
if ! "$busybox" --list >/dev/null 2>&1; then
    echo "build-busybox-image: $busybox missing or not runnable: install busybox-static" >&2
    exit 1
fi
if ldd "$busybox" >/dev/null 2>&1; then
    echo "build-busybox-image: $busybox is dynamically linked: install busybox-static (not busybox)" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"
blobs="$work/oci/blobs/sha256"
mkdir -p "$rootfs"/{bin,etc,tmp,root} "$blobs"

install -m 0755 "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list); do
    [[ "$applet" == busybox || "$applet" == *[/\[]* ]] || ln -s busybox "$rootfs/bin/$applet"
done
# '[' and '[[' are applets too; the glob above skips them, so add them explicitly.
ln -s busybox "$rootfs/bin/["
ln -s busybox "$rootfs/bin/[["
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"
chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group"
chmod 0755 "$rootfs/bin" "$rootfs/etc" "$rootfs/root"
chmod 1777 "$rootfs/tmp"
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

# Reproducible layer: fixed order, times, owners; gzip without name or timestamp.
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu \
    -C "$rootfs" -cf "$work/layer.tar" "${layer_paths[@]}"
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -n -9 < "$work/layer.tar" > "$work/layer.tar.gz"

# Stores FILE as a blob; prints "<hex> <size>".
add_blob() {
    local hex size
    hex=$(sha256sum "$1" | cut -d' ' -f1)
    size=$(stat -c %s "$1")
    cp "$1" "$blobs/$hex"
    echo "$hex $size"
}

read -r layer_hex layer_size < <(add_blob "$work/layer.tar.gz")

jq -cn --arg diff "sha256:$diff_id" --argjson process "$process" '{
    architecture: "amd64", os: "linux", created: "1970-01-01T00:00:00Z",
    config: $process,
    rootfs: {type: "layers", diff_ids: [$diff]},
    history: [{created: "1970-01-01T00:00:00Z", created_by: "javakata scripts/build-busybox-image.sh"}]
}' > "$work/config.json"
read -r config_hex config_size < <(add_blob "$work/config.json")

jq -cn --arg c "sha256:$config_hex" --argjson cs "$config_size" \
       --arg l "sha256:$layer_hex" --argjson ls "$layer_size" '{
    schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $cs},
    layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $l, size: $ls}]
}' > "$work/manifest.json"
read -r manifest_hex manifest_size < <(add_blob "$work/manifest.json")

jq -cn --arg m "sha256:$manifest_hex" --argjson ms "$manifest_size" --arg ref "$ref" '{
    schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m, size: $ms,
                 platform: {architecture: "amd64", os: "linux"},
                 annotations: {"org.opencontainers.image.ref.name": $ref}}]
}' > "$work/oci/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' > "$work/oci/oci-layout"

mkdir -p "$(dirname "$out")"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu \
    -C "$work/oci" -cf "$out.tmp" oci-layout index.json blobs
mv "$out.tmp" "$out"
echo "build-busybox-image: $out ($ref, manifest sha256:$manifest_hex)"
