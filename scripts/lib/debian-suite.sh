#!/usr/bin/env bash
# Fetches packages from a Debian suite other than the machine's own (trixie, unstable, bookworm-backports)
# without touching the machine's apt configuration: a private sources file and lists dir under the cache, then
# `apt-get download` and `dpkg-deb -x` into a directory the caller owns. Nothing is installed.
#
#   scripts/lib/debian-suite.sh SUITE DEST PACKAGE[=VERSION]...
#
# Unpacks each package's files under DEST (DEST/usr/bin/..., DEST/usr/lib/...). Dependencies are not
# followed: name every package whose files are needed. The downloaded .debs stay in
# ${JAVAKATA_APT_CACHE:-/var/cache/javakata/apt}/SUITE, so a second run needs no network. The archive is
# deb.debian.org, signed by the keys of debian-archive-keyring (apt checks the Release signature as usual).
set -euo pipefail

if (($# < 3)); then
    echo "usage: $0 SUITE DEST PACKAGE[=VERSION]..." >&2
    exit 2
fi
suite=$1 dest=$2
shift 2
case "$suite" in
    bookworm | bookworm-backports | trixie | trixie-backports | forky | unstable | sid) ;;
    *) echo "debian-suite: unknown suite '$suite'" >&2; exit 2 ;;
esac

cache=${JAVAKATA_APT_CACHE:-/var/cache/javakata/apt}/$suite
mkdir -p "$cache/sources" "$cache/lists/partial" "$cache/debs" "$dest"
# apt downloads as _apt when it can write there, and otherwise warns that it downloads as root.
if getent passwd _apt > /dev/null; then chown _apt "$cache/debs" "$cache/lists/partial"; fi
cat > "$cache/sources/$suite.sources" <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF

apt_opts=(
    -o "Dir::Etc::SourceList=/dev/null"
    -o "Dir::Etc::SourceParts=$cache/sources"
    -o "Dir::State::Lists=$cache/lists"
    -o "Dir::Cache::archives=$cache/debs"
    -o "APT::Architecture=amd64"
    -q
)

# A .deb already in the cache for every package (by name, any version when none is given) needs no lists.
deb_for() {
    local name=${1%%=*} version=
    [[ "$1" == *=* ]] && version=${1#*=}
    local f
    for f in "$cache/debs/${name}_"*.deb; do
        [[ -e "$f" ]] || continue
        if [[ -z "$version" || "$(dpkg-deb -f "$f" Version)" == "$version" ]]; then
            echo "$f"
            return 0
        fi
    done
    return 1
}

need=()
for pkg in "$@"; do
    deb_for "$pkg" > /dev/null || need+=("$pkg")
done
if ((${#need[@]} > 0)); then
    if ! ls "$cache/lists/"*_Packages* > /dev/null 2>&1; then
        apt-get "${apt_opts[@]}" update > /dev/null \
            || { echo "debian-suite: apt-get update of $suite failed" >&2; exit 1; }
    fi
    (cd "$cache/debs" && apt-get "${apt_opts[@]}" download "${need[@]}" > /dev/null) \
        || { echo "debian-suite: apt-get download ${need[*]} from $suite failed" >&2; exit 1; }
fi

for pkg in "$@"; do
    deb=$(deb_for "$pkg") || { echo "debian-suite: $pkg from $suite is not in $cache/debs" >&2; exit 1; }
    dpkg-deb -x "$deb" "$dest"
    echo "debian-suite: $(basename "$deb") -> $dest"
done
