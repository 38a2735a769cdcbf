#!/usr/bin/env bash
# Builds the self-contained release (make dist): one archive that runs on a host with no Java, and the DaemonSet's
# image built from it.
#
#   scripts/dist.sh [OUT_DIR]     OUT_DIR defaults to build/dist
#
# Needs the shim jar (make build) and the guest assets in build/guest (make guest). Writes
#   OUT_DIR/javakata-<version>-linux-amd64.tar.gz   the release, one top directory javakata-<version>/:
#       bin/containerd-shim-javakata-v2   the launcher; runs runtime/bin/java on lib/javakata-shim.jar, both found
#                                         relative to where the launcher really is (it is reached through a symlink)
#       bin/javakata-install              the installer: files under a prefix, containerd's drop-in, restart, rollback
#       lib/javakata-shim.jar, lib/make-aot-cache.sh (the installer makes the AOT cache with runtime/bin/java)
#       runtime/                          a jlink'd Java runtime with the modules jdeps finds in the shim jar
#       share/vmlinuz, share/initrd.img, share/agent.img, share/guest-manifest.json
#       etc/configuration.toml.in         the default configuration, @PREFIX@ for the install prefix
#       deploy/                           the DaemonSet and the RuntimeClass, the image's entrypoint, build-image.sh
#       VERSION
#   OUT_DIR/javakata-deploy-<version>.oci.tar   the DaemonSet's image (localhost/javakata/deploy:<version>), made by the
#                                               release's own deploy/build-image.sh; import it with ctr images import
#   OUT_DIR/VERSION
#
# The version is the Maven project version, with the commit (git describe) appended to a -SNAPSHOT.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=java-env.sh
. "$repo/scripts/java-env.sh"
out=${1:-$repo/build/dist}
[[ "$out" == /* ]] || out="$(pwd)/$out"
jar=$repo/shim/target/javakata-shim.jar
guest=$repo/build/guest

log() { echo "dist: $*" >&2; }
die() { log "$*"; exit 1; }

[[ -r "$jar" ]] || die "no $jar: run make build first"
for f in vmlinuz initrd.img agent.img guest-manifest.json; do
    [[ -r "$guest/$f" ]] || die "no $guest/$f: run make guest first"
done
[[ -x "$JAVA_HOME/bin/jlink" ]] || die "no jlink in $JAVA_HOME"

version=$(sed -n '0,/<version>/s:.*<version>\(.*\)</version>.*:\1:p' "$repo/pom.xml")
[[ -n "$version" ]] || die "no <version> in $repo/pom.xml"
if [[ "$version" == *-SNAPSHOT ]]; then
    version="$version-g$(git -C "$repo" describe --always --dirty --abbrev=10)"
fi
name=javakata-$version
work=$(mktemp -d /tmp/javakata-dist.XXXXXX)
trap 'rm -rf "$work"' EXIT
rel=$work/$name
mkdir -p "$rel"/{bin,lib,share,etc,deploy/image}

# The launcher with no JDK written into it: it then runs the release's own runtime.
sed 's|@JAVAKATA_JAVA_HOME@||' "$repo/shim/src/main/dist/containerd-shim-javakata-v2" > "$rel/bin/containerd-shim-javakata-v2"
chmod 0755 "$rel/bin/containerd-shim-javakata-v2"
install -m 0755 "$repo/shim/src/main/dist/javakata-install" "$rel/bin/javakata-install"
install -m 0644 "$jar" "$rel/lib/javakata-shim.jar"
install -m 0755 "$repo/shim/src/main/dist/make-aot-cache.sh" "$rel/lib/make-aot-cache.sh"
install -m 0644 "$repo/scripts/lib/oci-image.sh" "$rel/lib/oci-image.sh"
install -m 0644 "$guest/vmlinuz" "$guest/initrd.img" "$guest/agent.img" "$guest/guest-manifest.json" "$rel/share/"
sed 's|"/usr/share/javakata/|"@PREFIX@/current/share/|' "$repo/shim/src/main/dist/configuration.toml" \
    > "$rel/etc/configuration.toml.in"
grep -q '@PREFIX@/current/share/vmlinuz' "$rel/etc/configuration.toml.in" \
    || die "configuration.toml no longer names /usr/share/javakata/vmlinuz: update the substitution above"
install -m 0644 "$repo"/deploy/*.yaml "$rel/deploy/"
sed -i "s|@VERSION@|$version|g" "$rel"/deploy/*.yaml
install -m 0755 "$repo/deploy/build-image.sh" "$rel/deploy/build-image.sh"
install -m 0755 "$repo/deploy/image/javakata-deploy" "$rel/deploy/image/javakata-deploy"
echo "$version" > "$rel/VERSION"

[[ -x "$rel/bin/containerd-shim-javakata-v2" ]] || die "the launcher is not executable"

# The Java runtime: the modules the shim jar needs, as jdeps finds them.
modules=$("$JAVA_HOME/bin/jdeps" --multi-release 25 --ignore-missing-deps --print-module-deps "$jar")
log "jlink runtime with $modules"
"$JAVA_HOME/bin/jlink" --add-modules "$modules" --strip-debug --no-header-files --no-man-pages \
    --output "$rel/runtime" > "$work/jlink.log" 2>&1 || { cat "$work/jlink.log" >&2; die "jlink failed"; }
"$rel/runtime/bin/java" -jar "$rel/lib/javakata-shim.jar" -v >/dev/null 2>&1 \
    || die "the jlink'd runtime cannot run the shim jar (-v)"
log "runtime: $(du -sh "$rel/runtime" | cut -f1) ($modules)"

mkdir -p "$out"
rm -f "$out"/javakata-*-linux-amd64.tar.gz "$out"/javakata-deploy-*.oci.tar
# gzip -1: the guest's initrd and the runtime's modules hardly shrink further; -6 takes twice as long for 7 %.
tar --sort=name --owner=0 --group=0 --numeric-owner -C "$work" -cf - "$name" | gzip -1 > "$out/$name-linux-amd64.tar.gz"
echo "$version" > "$out/VERSION"
log "wrote $out/$name-linux-amd64.tar.gz ($(du -h "$out/$name-linux-amd64.tar.gz" | cut -f1), unpacked $(du -sh "$rel" | cut -f1))"

"$rel/deploy/build-image.sh" "$out/javakata-deploy-$version.oci.tar"
