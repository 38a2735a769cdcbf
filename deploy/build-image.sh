#!/usr/bin/env bash
# Builds the javakata-deploy image (deploy/javakata-deploy.yaml) from the release this script belongs to, as an OCI
# image archive, without any registry: busybox (Debian's busybox-static, for sh, cp and nsenter), the release at
# /javakata and the entrypoint /javakata-deploy.
#
#   <release>/deploy/build-image.sh OUT.tar [REF]     REF defaults to localhost/javakata/deploy:<version>
#
# Import it on each node: ctr -n k8s.io images import OUT.tar
set -euo pipefail
release=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../scripts/lib/oci-image.sh
source "$release/lib/oci-image.sh"
[[ $# -ge 1 && $# -le 2 ]] || { echo "usage: $0 OUT.tar [REF]" >&2; exit 2; }
out=$1
version=$(cat "$release/VERSION")
ref=${2:-localhost/javakata/deploy:$version}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
install_busybox "$rootfs"
mkdir -p "$rootfs/javakata"
cp -a "$release/." "$rootfs/javakata/"
install -m 0755 "$release/deploy/image/javakata-deploy" "$rootfs/javakata-deploy"
process='{"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Entrypoint": ["/javakata-deploy"], "Cmd": ["install"]}'
# The layer is mostly the guest's initrd and the Java runtime, which gzip hardly shrinks: its fastest level.
OCI_GZIP_LEVEL=1 write_oci_image "$rootfs" "$work" "$out" "$ref" "javakata deploy/build-image.sh $version" "$process" \
    bin etc root tmp javakata javakata-deploy
echo "build-image: $out ($ref, manifest $OCI_MANIFEST_DIGEST)"
