# Sourced by scripts/build-*-image.sh: writes a one-layer OCI image archive (oci-layout, index.json,
# blobs/sha256/...) from a root filesystem directory, without any registry. The archive is reproducible:
# the same files give the same bytes (fixed order, times and owners; gzip without name or timestamp).

# write_oci_image ROOTFS WORK OUT REF CREATED_BY PROCESS_JSON PATH...
#   ROOTFS        the directory holding the image's files
#   WORK          an empty scratch directory (removed by the caller)
#   OUT           the archive to write
#   REF           the image's full name, as org.opencontainers.image.ref.name of its index entry
#   CREATED_BY    the history line
#   PROCESS_JSON  the image config's "config" object (Env, Cmd, Entrypoint, ...)
#   PATH...       the top-level entries of ROOTFS that make the layer, in any order
# OCI_GZIP_LEVEL (1 to 9, default 9) is the layer's gzip level: 1 for a large layer of compressed files (the
# deploy image's guest and Java runtime), where 9 costs minutes and saves a few per cent.
write_oci_image() {
    local rootfs="$1" work="$2" out="$3" ref="$4" created_by="$5" process="$6"
    shift 6
    local blobs="$work/oci/blobs/sha256"
    mkdir -p "$blobs"

    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu \
        -C "$rootfs" -cf "$work/layer.tar" "$@"
    local diff_id
    diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
    gzip -n "-${OCI_GZIP_LEVEL:-9}" < "$work/layer.tar" > "$work/layer.tar.gz"

    local layer_hex layer_size config_hex config_size manifest_hex manifest_size
    read -r layer_hex layer_size < <(oci_add_blob "$blobs" "$work/layer.tar.gz")

    jq -cn --arg diff "sha256:$diff_id" --argjson process "$process" --arg by "$created_by" '{
        architecture: "amd64", os: "linux", created: "1970-01-01T00:00:00Z",
        config: $process,
        rootfs: {type: "layers", diff_ids: [$diff]},
        history: [{created: "1970-01-01T00:00:00Z", created_by: $by}]
    }' > "$work/config.json"
    read -r config_hex config_size < <(oci_add_blob "$blobs" "$work/config.json")

    jq -cn --arg c "sha256:$config_hex" --argjson cs "$config_size" \
           --arg l "sha256:$layer_hex" --argjson ls "$layer_size" '{
        schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $cs},
        layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $l, size: $ls}]
    }' > "$work/manifest.json"
    read -r manifest_hex manifest_size < <(oci_add_blob "$blobs" "$work/manifest.json")

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
    OCI_MANIFEST_DIGEST="sha256:$manifest_hex"
}

# oci_add_blob BLOBS FILE: stores FILE as a blob; prints "<hex> <size>".
oci_add_blob() {
    local hex size
    hex=$(sha256sum "$2" | cut -d' ' -f1)
    size=$(stat -c %s "$2")
    cp "$2" "$1/$hex"
    echo "$hex $size"
}

# install_busybox ROOTFS: /bin/busybox (Debian's busybox-static) with a symlink per applet, /etc/passwd and
# /etc/group with root and nobody, /tmp and /root.
install_busybox() {
    local rootfs="$1" busybox=/bin/busybox applet
    if ! "$busybox" --list >/dev/null 2>&1; then
        echo "$0: $busybox missing or not runnable: install busybox-static" >&2
        return 1
    fi
    if ldd "$busybox" >/dev/null 2>&1; then
        echo "$0: $busybox is dynamically linked: install busybox-static (not busybox)" >&2
        return 1
    fi
    mkdir -p "$rootfs"/{bin,etc,tmp,root}
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
}
