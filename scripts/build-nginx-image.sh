#!/usr/bin/env bash
# Builds a one-layer nginx image as an OCI image archive, from Debian's own packages (nginx, nginx-common
# and the libraries nginx links against, fetched with `apt-get download` and unpacked with dpkg-deb -x, no
# maintainer script run), plus busybox for a shell. No container registry is needed, only Debian's.
#
#   scripts/build-nginx-image.sh OUT.tar [REF]      REF defaults to localhost/javakata/nginx:1
#
# The image runs `nginx -g 'daemon off;'` with Debian's /etc/nginx/nginx.conf (a master and
# `worker_processes auto` workers, user www-data) and its default site (port 80), what a new user gets
# from the distribution. As in the Docker official nginx image, /var/log/nginx/access.log and error.log
# are symlinks to /dev/stdout and /dev/stderr, so the workers write the container's log.
#
# The .deb files are kept in $JAVAKATA_DEB_CACHE (default: OUT's directory /debs), so a rebuild needs no
# network. Import the archive with `ctr -a SOCK -n NS images import OUT.tar`.
set -euo pipefail
# shellcheck source=lib/oci-image.sh
source "$(dirname "$0")/lib/oci-image.sh"

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 OUT.tar [REF]" >&2
    exit 2
fi
out="$1"
ref="${2:-localhost/javakata/nginx:1}"
debs="${JAVAKATA_DEB_CACHE:-$(dirname "$out")/debs}"
# nginx's Depends (apt-cache depends nginx) less iproute2, which only its maintainer scripts use.
packages=(nginx nginx-common libc6 libcrypt1 libpcre2-8-0 libssl3 zlib1g)

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

# What nginx-common's postinst would do, and the Docker image's log redirection.
printf 'www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n' >> "$rootfs/etc/passwd"
printf 'www-data:x:33:\n' >> "$rootfs/etc/group"
ln -sf /etc/nginx/sites-available/default "$rootfs/etc/nginx/sites-enabled/default"
mkdir -p "$rootfs/var/www/html" "$rootfs/run" "$rootfs/var/lib/nginx" "$rootfs/var/log/nginx"
cp "$rootfs/usr/share/nginx/html/index.html" "$rootfs/var/www/html/index.nginx-debian.html"
ln -sf /dev/stdout "$rootfs/var/log/nginx/access.log"
ln -sf /dev/stderr "$rootfs/var/log/nginx/error.log"

process='{"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
          "Cmd": ["nginx", "-g", "daemon off;"], "ExposedPorts": {"80/tcp": {}}}'
mapfile -t layer_paths < <(find "$rootfs" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort)
write_oci_image "$rootfs" "$work" "$out" "$ref" "javakata scripts/build-nginx-image.sh (Debian nginx)" \
    "$process" "${layer_paths[@]}"
echo "build-nginx-image: $out ($ref, manifest $OCI_MANIFEST_DIGEST)"
