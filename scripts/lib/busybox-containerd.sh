# Sourced by the scripts that run busybox tasks with ctr on a private containerd of their own (scripts/containerd.sh).

# busybox_containerd_start DIR NAMESPACE IMAGE: builds the busybox image (scripts/build-busybox-image.sh) as
# DIR/busybox.tar, tagged IMAGE; starts a private containerd under DIR (its socket DIR/c.sock); imports the image into
# NAMESPACE. The caller's exit handler stops that containerd (scripts/containerd.sh stop DIR).
busybox_containerd_start() {
    local dir="$1" ns="$2" image="$3" scripts
    scripts="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    "$scripts/build-busybox-image.sh" "$dir/busybox.tar" "$image" >/dev/null
    "$scripts/containerd.sh" start "$dir"
    ctr -a "$dir/c.sock" -n "$ns" images import "$dir/busybox.tar" >/dev/null
}
