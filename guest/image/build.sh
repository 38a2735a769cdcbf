#!/bin/bash
# Builds the javakata guest: <out>/vmlinuz (Debian's cloud kernel), <out>/initrd.img (an uncompressed,
# reproducible newc cpio holding busybox, the kernel modules, crun and the libraries the Java runtime
# loads) and <out>/agent.img (a read-only ext4 image of the guest's /opt: a jlinked Java runtime, the agent
# jar and its AOT cache, which the VM maps from the host with DAX instead of holding it in guest RAM). Does
# nothing when <out>/.stamp matches a hash of every input. Downloaded .debs are cached in <out>/../guest-cache.
#
# Usage: guest/image/build.sh --agent-jar <javakata-agent.jar> --out <dir> [--no-aot]
#
# The Java runtime is jlinked from the JDK scripts/java-env.sh names (override: JAVAKATA_JAVA_HOME).
#
# Every file is byte-for-byte reproducible except the agent's AOT cache (opt/agent/agent.aot), whose
# content depends on the timing of the training run; --no-aot leaves it out (a fully reproducible
# initrd, but the agent then starts several seconds slower under TCG).
set -euo pipefail

usage() { echo "usage: $0 --agent-jar <jar> --out <dir> [--no-aot]" >&2; exit 2; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../../scripts/java-env.sh"
JDK=$JAVAKATA_JAVA_HOME
AGENT_JAR= OUT= AOT=yes
while [ $# -gt 0 ]; do
    case "$1" in
        --agent-jar) AGENT_JAR=${2:?}; shift 2 ;;
        --out) OUT=${2:?}; shift 2 ;;
        --no-aot) AOT=no; shift ;;
        -h|--help) usage ;;
        *) echo "unknown argument: $1" >&2; usage ;;
    esac
done
[ -n "$AGENT_JAR" ] && [ -n "$OUT" ] || usage
[ -f "$AGENT_JAR" ] || { echo "agent jar not found: $AGENT_JAR" >&2; exit 1; }
AGENT_JAR_ABS=$(cd "$(dirname "$AGENT_JAR")" && pwd)/$(basename "$AGENT_JAR")
[ -x "$JDK/bin/jlink" ] || { echo "no jlink in $JDK" >&2; exit 1; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
CACHE=$(dirname "$OUT")/guest-cache
mkdir -p "$CACHE"

# Modules, in load order (busybox insmod resolves no dependencies, and the .deb ships no depmod output), each with the
# kernel option that builds it: =y needs no module, =m ships it, anything else fails the build.
MODULES=(
    CONFIG_VIRTIO:kernel/drivers/virtio/virtio_ring.ko
    CONFIG_VIRTIO:kernel/drivers/virtio/virtio.ko
    CONFIG_VIRTIO_PCI_LIB_LEGACY:kernel/drivers/virtio/virtio_pci_legacy_dev.ko
    CONFIG_VIRTIO_PCI_LIB:kernel/drivers/virtio/virtio_pci_modern_dev.ko
    CONFIG_VIRTIO_PCI:kernel/drivers/virtio/virtio_pci.ko
    CONFIG_VIRTIO_BALLOON:kernel/drivers/virtio/virtio_balloon.ko
    CONFIG_VIRTIO_CONSOLE:kernel/drivers/char/virtio_console.ko
    CONFIG_FUSE_FS:kernel/fs/fuse/fuse.ko
    CONFIG_VIRTIO_FS:kernel/fs/fuse/virtiofs.ko
    CONFIG_OVERLAY_FS:kernel/fs/overlayfs/overlay.ko
    CONFIG_VSOCKETS:kernel/net/vmw_vsock/vsock.ko
    CONFIG_VIRTIO_VSOCKETS_COMMON:kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko
    CONFIG_VIRTIO_VSOCKETS:kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko
    CONFIG_FAILOVER:kernel/net/core/failover.ko
    CONFIG_NET_FAILOVER:kernel/drivers/net/net_failover.ko
    CONFIG_VIRTIO_NET:kernel/drivers/net/virtio_net.ko
    # The agent image: virtio-pmem under q35 (mapped with DAX), a read-only virtio-blk disk under microvm.
    CONFIG_LIBNVDIMM:kernel/drivers/nvdimm/libnvdimm.ko
    CONFIG_ND_BTT:kernel/drivers/nvdimm/nd_btt.ko
    CONFIG_BLK_DEV_PMEM:kernel/drivers/nvdimm/nd_pmem.ko
    CONFIG_VIRTIO_PMEM:kernel/drivers/nvdimm/nd_virtio.ko
    CONFIG_VIRTIO_PMEM:kernel/drivers/nvdimm/virtio_pmem.ko
    CONFIG_VIRTIO_BLK:kernel/drivers/block/virtio_blk.ko
)
# From `jdeps --print-module-deps` of the agent jar: protobuf uses java.logging and sun.misc.Unsafe
# (jdk.unsupported), the ttrpc library jdk.net.
JLINK_MODULES=java.base,java.logging,jdk.net,jdk.unsupported
JVM_ARGS=(
    -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData
    # Map the AOT cache at its preferred address instead of relocating ~19 MB of pointers (slow on TCG).
    -XX:+UnlockDiagnosticVMOptions -XX:ArchiveRelocationMode=0
    --sun-misc-unsafe-memory-access=allow
    -Xms8m -Xmx96m -Xss512k -XX:MaxMetaspaceSize=64m
    --enable-native-access=ALL-UNNAMED
    # An idle agent wakes the guest as seldom as it can: each wake-up is a timer interrupt QEMU emulates. No safepoint
    # just because a second passed, and idle monitors looked for every 10 s instead of every 250 ms.
    -XX:GuaranteedSafepointInterval=0 -XX:AsyncDeflationInterval=10000
)

# --- resolve package versions (inputs of the stamp) -------------------------------------------
pkg_candidate() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}'; }
KERNEL_PKG=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
if [ -z "$KERNEL_PKG" ]; then
    apt-get update -qq
    KERNEL_PKG=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')
fi
[ -n "$KERNEL_PKG" ] || { echo "cannot resolve linux-image-cloud-amd64" >&2; exit 1; }
KERNEL_VERSION=$(pkg_candidate "$KERNEL_PKG")
BUSYBOX_VERSION=$(pkg_candidate busybox-static)
# --- crun (the guest's OCI runtime): fetched here, its .debs are inputs of the stamp --------------------
# trixie's crun (bookworm's 1.8.1 refuses the runtime-spec 1.1/1.2 configs of containerd 1.7 and 2.x, "unknown
# version specified"), with the glibc and libraries it was built against (it needs glibc >= 2.38; the guest's
# own libc, copied from this Debian 12 host for the JVM, is 2.36). They go to a private directory, CRUN_DIR, and
# patchelf points the crun binary's loader (PT_INTERP) and library path (DT_RPATH, which, unlike DT_RUNPATH,
# also serves the libraries' own dependencies) there, so nothing else in the guest sees them. No wrapper
# script: crun re-executes /proc/self/exe, which must be crun itself. CRUN_DIR is under /opt: in the agent image,
# whose pages are the host's (DAX), not in the initrd, whose files the guest keeps in its RAM.
CRUN_SUITE=trixie
CRUN_PACKAGES=(crun libc6 libcap2 libseccomp2 libsystemd0 libyajl2)
CRUN_DIR=/opt/crun
command -v patchelf >/dev/null || { echo "patchelf not found (Debian package patchelf)" >&2; exit 1; }
CRUN_UNPACKED="$CACHE/crun-$CRUN_SUITE"
rm -rf "$CRUN_UNPACKED"
CRUN_DEBS=$("$HERE/../../scripts/lib/debian-suite.sh" "$CRUN_SUITE" "$CRUN_UNPACKED" "${CRUN_PACKAGES[@]}" \
    | sed -n 's/^debian-suite: \(.*\.deb\) -> .*/\1/p' | tr '\n' ' ')
[ -x "$CRUN_UNPACKED/usr/bin/crun" ] || { echo "no usr/bin/crun in $CRUN_SUITE's crun package" >&2; exit 1; }
CRUN_VERSION=$(sed -n 's/^crun_\([^_]*\)_.*/\1/p' <<< "${CRUN_DEBS// /$'\n'}")
# --- end of crun ---------------------------------------------------------------------------------------------
JDK_VERSION=$(cat "$JDK/release")

STAMP=$( {
    sha256sum "$HERE/build.sh" "$HERE/init" "$HERE/on-demand-modules" "$AGENT_JAR" | cut -d' ' -f1
    echo "$KERNEL_PKG=$KERNEL_VERSION busybox-static=$BUSYBOX_VERSION $CRUN_SUITE: $CRUN_DEBS"
    echo "$JDK_VERSION aot=$AOT"
} | sha256sum | cut -d' ' -f1)
if [ -f "$OUT/.stamp" ] && [ "$(cat "$OUT/.stamp")" = "$STAMP" ] && [ -f "$OUT/vmlinuz" ] && [ -f "$OUT/initrd.img" ] \
        && [ -f "$OUT/agent.img" ] && [ -f "$OUT/guest-manifest.json" ]; then
    echo "guest image up to date in $OUT"
    exit 0
fi
echo "building guest image: $KERNEL_PKG $KERNEL_VERSION, busybox $BUSYBOX_VERSION, crun $CRUN_VERSION ($CRUN_SUITE)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/javakata-guest.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# --- Debian packages ---------------------------------------------------------------------------
fetch_deb() { # name version -> path of the cached .deb
    local name=$1 version=$2 file
    file=$(find "$CACHE" -maxdepth 1 -name "${name}_*.deb" | while read -r f; do
        [ "$(dpkg-deb -f "$f" Version)" = "$version" ] && echo "$f"; done | head -1)
    if [ -z "$file" ]; then
        (cd "$CACHE" && apt-get download -q "$name=$version" >/dev/null 2>&1) \
            || { echo "apt-get download $name=$version failed" >&2; return 1; }
        file=$(find "$CACHE" -maxdepth 1 -name "${name}_*.deb" | while read -r f; do
            [ "$(dpkg-deb -f "$f" Version)" = "$version" ] && echo "$f"; done | head -1)
    fi
    echo "$file"
}
KERNEL_DEB=$(fetch_deb "$KERNEL_PKG" "$KERNEL_VERSION")
BUSYBOX_DEB=$(fetch_deb busybox-static "$BUSYBOX_VERSION")
dpkg-deb -x "$KERNEL_DEB" "$WORK/kernel"
dpkg-deb -x "$BUSYBOX_DEB" "$WORK/busybox"
KREL=$(basename "$(ls -d "$WORK"/kernel/lib/modules/*)")
KCONFIG="$WORK/kernel/boot/config-$KREL"

ROOT="$WORK/root"
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,etc/javakata,proc,sys,dev,run,tmp,root,opt/agent,lib/modules} \
    "$ROOT"/opt/{lib/x86_64-linux-gnu,lib64,modules}

# --- busybox -----------------------------------------------------------------------------------
cp "$WORK/busybox/bin/busybox" "$ROOT/bin/busybox"
for applet in $("$ROOT/bin/busybox" --list-full); do
    [ -e "$ROOT/$applet" ] || ln -s /bin/busybox "$ROOT/$applet"
done

# --- kernel modules (a =y option needs no module; a missing one is a build error) ----------------
: > "$ROOT/etc/javakata/modules"
for entry in "${MODULES[@]}"; do
    option=${entry%%:*} module=${entry#*:}
    case "$(grep -E "^$option=" "$KCONFIG" | cut -d= -f2)" in
        y) continue ;;
        m) ;;
        *) echo "$KERNEL_PKG has no $option (needed for $(basename "$module"))" >&2; exit 1 ;;
    esac
    src="$WORK/kernel/lib/modules/$KREL/$module"
    for ext in "" .xz .zst; do
        [ -f "$src$ext" ] && break
    done
    [ -f "$src$ext" ] || { echo "module $module not in $KERNEL_PKG" >&2; exit 1; }
    dest="$ROOT/lib/modules/$(basename "$module")"
    case "$ext" in
        .xz) xz -dc "$src$ext" > "$dest" ;;
        .zst) zstd -qdc "$src$ext" > "$dest" ;;
        *) cp "$src" "$dest" ;;
    esac
    basename "$module" >> "$ROOT/etc/javakata/modules"
done
for option in CONFIG_DEVTMPFS CONFIG_TMPFS CONFIG_CGROUPS CONFIG_EXT4_FS CONFIG_FS_DAX; do
    grep -q "^$option=y" "$KCONFIG" || { echo "$KERNEL_PKG lacks $option=y" >&2; exit 1; }
done

# --- modules loaded on demand (the list is guest/image/on-demand-modules) --------------------------
# The listed modules, closed under their dependencies, with depmod's index of that set, go into a zstd
# squashfs image (xz is 10 % smaller but 2-3 times slower to read under TCG), /opt/modules/on-demand.squashfs in the
# agent image, which /init mounts read-only (loop) on /lib/modules/<release>; loop.ko and squashfs.ko, which that
# mount needs, ship in the initrd's /lib/modules uncompressed (/etc/javakata/on-demand-mount lists them in load
# order). The kernel's request_module runs /sbin/modprobe (CONFIG_MODPROBE_PATH), busybox's, which resolves aliases
# and dependencies from the index; at boot /init loads only ip_tables and ip6_tables from it. A squashfs keeps the
# agent image small (the kernel decompresses only what is read), and the modules stay plain .ko files: the cloud
# kernel cannot decompress a .ko.xz itself (no CONFIG_MODULE_DECOMPRESS), so each load of one logs "Invalid ELF
# header magic" before busybox falls back to decompressing it. Figures: docs/benchmarks.md, "Kernel modules on demand".
ship_on_demand_modules() {
    local list=$1 kernel_root=$2 root=$3 krel=$4
    local src="$kernel_root/lib/modules/$krel" stage="$WORK/on-demand" entry module
    for tool in depmod mksquashfs; do
        command -v "$tool" >/dev/null || { echo "$tool not found (Debian packages kmod, squashfs-tools)" >&2; return 1; }
    done
    for option in CONFIG_SQUASHFS CONFIG_BLK_DEV_LOOP; do
        grep -q "^$option=m" "$KCONFIG" || { echo "$KERNEL_PKG: $option is not =m" >&2; return 1; }
    done
    grep -q "^CONFIG_SQUASHFS_ZSTD=y" "$KCONFIG" || { echo "$KERNEL_PKG lacks CONFIG_SQUASHFS_ZSTD=y" >&2; return 1; }
    # The whole package's dependency table (the .deb ships none), to close the list under dependencies.
    depmod -b "$kernel_root" "$krel"
    local wanted="$WORK/on-demand.wanted"
    : > "$wanted"
    while read -r entry; do
        entry=${entry%%#*}
        entry=$(echo "$entry" | tr -d '[:space:]')
        [ -n "$entry" ] || continue
        if [ -d "$src/$entry" ]; then
            (cd "$src" && find "$entry" -name '*.ko') >> "$wanted"
        elif [ -f "$src/$entry" ]; then
            echo "$entry" >> "$wanted"
        else
            echo "$list: $entry is not in $KERNEL_PKG" >&2
            return 1
        fi
    done < "$list"
    # modules.dep: "path: every module path it needs, transitively".
    awk -F': *' 'NR == FNR { want[$1] = 1; next }
        ($1 in want) { print $1; n = split($2, deps, " "); for (i = 1; i <= n; i++) print deps[i] }' \
        "$wanted" "$src/modules.dep" | LC_ALL=C sort -u > "$WORK/on-demand.closed"
    [ -s "$WORK/on-demand.closed" ] || { echo "no on-demand module found" >&2; return 1; }
    while read -r module; do
        mkdir -p "$stage/lib/modules/$krel/$(dirname "$module")"
        cp "$src/$module" "$stage/lib/modules/$krel/$module"
    done < "$WORK/on-demand.closed"
    cp "$src/modules.builtin" "$src/modules.builtin.modinfo" "$src/modules.order" "$stage/lib/modules/$krel/"
    depmod -b "$stage" "$krel"
    # busybox modprobe reads the text files; the binary indexes are for kmod's modprobe, which is not here.
    rm -f "$stage/lib/modules/$krel"/*.bin "$stage/lib/modules/$krel/modules.builtin.modinfo"
    find "$stage" -exec touch -h -d "@$EPOCH" {} +
    mksquashfs "$stage/lib/modules/$krel" "$root/opt/modules/on-demand.squashfs" -comp zstd -Xcompression-level 19 \
        -noappend -no-xattrs \
        -all-root -mkfs-time "$EPOCH" -all-time "$EPOCH" -quiet >/dev/null
    mkdir -p "$root/lib/modules/$krel"
    : > "$root/etc/javakata/on-demand-mount"
    for module in kernel/drivers/block/loop.ko kernel/fs/squashfs/squashfs.ko; do
        [ -z "$(modinfo -F depends "$src/$module")" ] || { echo "$module now has dependencies" >&2; return 1; }
        cp "$src/$module" "$root/lib/modules/$(basename "$module")"
        basename "$module" >> "$root/etc/javakata/on-demand-mount"
    done
    echo "on-demand modules: $(wc -l < "$WORK/on-demand.closed") ($(LC_ALL=C sort -u "$wanted" | wc -l) listed)," \
        "$(du -sk --apparent-size "$stage" | cut -f1) KiB in a squashfs of" \
        "$(du -k --apparent-size "$root/opt/modules/on-demand.squashfs" | cut -f1) KiB"
}

# --- Java runtime and agent ----------------------------------------------------------------------
# No default CDS archive: the agent's AOT cache (below) holds every class it loads, JDK ones included.
# The modules file is compressed: the cache serves the classes, so inflating costs little at start-up
# and the smaller image is faster to unpack and to copy into the tmpfs root.
"$JDK/bin/jlink" --add-modules "$JLINK_MODULES" --strip-debug --no-header-files --no-man-pages \
    --compress zip-6 --output "$ROOT/opt/jre" > "$WORK/jlink.log" 2>&1 \
    || { cat "$WORK/jlink.log" >&2; exit 1; }
rm -rf "$ROOT/opt/jre/legal" "$ROOT/opt/jre/release"
# jlink's --strip-native-debug-symbols keeps the symbol tables; strip them too (libjvm.so: 29 -> 24 MB).
if command -v strip >/dev/null; then
    find "$ROOT/opt/jre" -type f \( -name '*.so' -o -path '*/bin/*' \) -exec strip --strip-unneeded {} +
fi
cp "$AGENT_JAR" "$ROOT/opt/agent/javakata-agent.jar"
printf '%s\n' "${JVM_ARGS[@]}" > "$ROOT/etc/javakata/jvm.args"

# --- crun: CRUN_DIR/bin/crun, the libraries it needs (closed under DT_NEEDED) in CRUN_DIR/lib ---------------
mkdir -p "$ROOT$CRUN_DIR/bin" "$ROOT$CRUN_DIR/lib" "$ROOT/usr/sbin"
cp "$CRUN_UNPACKED/usr/bin/crun" "$ROOT$CRUN_DIR/bin/crun"
crun_pending=("$ROOT$CRUN_DIR/bin/crun")
while [ ${#crun_pending[@]} -gt 0 ]; do
    for lib in $(patchelf --print-needed "${crun_pending[0]}"); do
        [ -e "$ROOT$CRUN_DIR/lib/$lib" ] && continue
        [ -e "$CRUN_UNPACKED/usr/lib/x86_64-linux-gnu/$lib" ] \
            || { echo "crun needs $lib, which none of ${CRUN_PACKAGES[*]} ($CRUN_SUITE) ships" >&2; exit 1; }
        cp -L "$CRUN_UNPACKED/usr/lib/x86_64-linux-gnu/$lib" "$ROOT$CRUN_DIR/lib/$lib"
        crun_pending+=("$ROOT$CRUN_DIR/lib/$lib")
    done
    crun_pending=("${crun_pending[@]:1}")
done
[ -e "$ROOT$CRUN_DIR/lib/ld-linux-x86-64.so.2" ] || { echo "crun's libc names no ld-linux-x86-64.so.2" >&2; exit 1; }
patchelf --set-interpreter "$CRUN_DIR/lib/ld-linux-x86-64.so.2" --force-rpath --set-rpath "$CRUN_DIR/lib" \
    "$ROOT$CRUN_DIR/bin/crun"
ln -s "$CRUN_DIR/bin/crun" "$ROOT/usr/sbin/crun"
# It runs in the image root with only its own loader and libraries, or the build fails (with /proc: crun first
# re-executes itself from a copy of /proc/self/exe, even for --version).
unshare --mount --fork sh -c "mount -t proc proc '$ROOT/proc' && chroot '$ROOT' /usr/sbin/crun --version" \
        > "$WORK/crun-version" 2>&1 \
    || { echo "crun does not run in the image root:" >&2; cat "$WORK/crun-version" >&2; exit 1; }
echo "guest crun: $(head -1 "$WORK/crun-version") ($(du -sk "$ROOT$CRUN_DIR" | cut -f1) KiB in $CRUN_DIR)"
# --- end of crun ---------------------------------------------------------------------------------------------

# --- shared libraries of the Java runtime (from ldd; crun has its own) --------------------------------------
# In the agent image too (/opt/lib, /opt/lib64): only the JVM loads them, after /init mounted /opt. The paths
# the loader looks in (/lib/x86_64-linux-gnu) and the one baked into every binary (/lib64/ld-linux-x86-64.so.2)
# are links into /opt.
copy_libs() {
    # The JDK's own libraries find libjvm.so once the launcher has loaded it; anything else missing is an error.
    local missing
    missing=$(ldd "$1" 2>/dev/null \
        | grep 'not found' | grep -v '^\s*libjvm\.so ' || true)
    if [ -n "$missing" ]; then
        echo "$1 needs a library neither this host nor the unpacked packages have: $missing" >&2
        exit 1
    fi
    # Libraries resolved inside the runtime itself ($ORIGIN) are already there.
    ldd "$1" 2>/dev/null | awk '/=> \// {print $3} /^\s*\/lib/ {print $1}' | { grep -v "^$ROOT/" || true; } | while read -r lib; do
        dest="$ROOT/opt/lib/x86_64-linux-gnu/$(basename "$lib")"
        [ -e "$dest" ] || { mkdir -p "$(dirname "$dest")"; cp -L "$lib" "$dest"; }
    done
}
while read -r elf; do
    copy_libs "$elf"
done < <(find "$ROOT/opt/jre" -type f \( -name '*.so' -o -perm -u+x \))
# The loader path is baked into every binary.
cp -L /lib64/ld-linux-x86-64.so.2 "$ROOT/opt/lib64/ld-linux-x86-64.so.2"
ln -s /opt/lib64/ld-linux-x86-64.so.2 "$ROOT/lib64/ld-linux-x86-64.so.2"
ln -s /opt/lib/x86_64-linux-gnu "$ROOT/lib/x86_64-linux-gnu"

# --- init, config files ----------------------------------------------------------------------------
install -m 0755 "$HERE/init" "$ROOT/init"
echo "root:x:0:0:root:/root:/bin/sh" > "$ROOT/etc/passwd"
echo "root:x:0:" > "$ROOT/etc/group"
echo "javakata" > "$ROOT/etc/hostname"

# --- AOT cache of the agent (JEP 483/514) ----------------------------------------------------------
# A training run inside the image root (chroot, so the runtime and jar paths are the ones the guest
# uses; the cache records them and the jar's size and mtime) halves the agent's start-up under TCG.
EPOCH=1700000000
find "$ROOT" -exec touch -h -d "@$EPOCH" {} +
if [ "$AOT" = no ]; then
    echo "AOT cache left out (--no-aot)"
elif unshare --mount --fork sh -c "mount -t proc proc '$ROOT/proc' && mount -t tmpfs tmp '$ROOT/tmp' \
        && chroot '$ROOT' /opt/jre/bin/java @/etc/javakata/jvm.args -XX:AOTCacheOutput=/opt/agent/agent.aot \
           -jar /opt/agent/javakata-agent.jar --train" > "$WORK/aot.log" 2>&1 \
        && [ -f "$ROOT/opt/agent/agent.aot" ]; then
    echo "-XX:AOTCache=/opt/agent/agent.aot" >> "$ROOT/etc/javakata/jvm.args"
else
    echo "warning: AOT training failed, the agent starts without a cache:" >&2
    tail -5 "$WORK/aot.log" >&2
    rm -f "$ROOT/opt/agent/agent.aot"
fi

# --- modules loaded on demand (after $EPOCH is set: the squashfs image is reproducible too) -----------
ship_on_demand_modules "$HERE/on-demand-modules" "$WORK/kernel" "$ROOT" "$KREL"

# --- the agent image: /opt out of the initrd, into a read-only ext4 file system --------------------------
# The VM maps it from the host (virtio-pmem, DAX): the guest reads the runtime and the AOT cache straight from the
# host's page cache, which every VM shares, instead of unpacking them into guest RAM. 4 KiB blocks (DAX needs the
# page size), no journal (it is never written), its size a multiple of 2 MiB (a virtio-pmem region's alignment).
# Fixed UUID, hash seed and file times; not byte for byte reproducible: mke2fs 1.47.0 stamps inode change and
# creation times with the clock (two builds of one tree differ in 392 bytes of the inode table).
find "$ROOT" -exec touch -h -d "@$EPOCH" {} +
mkdir "$WORK/agent-image"
mv "$ROOT/opt"/* "$WORK/agent-image/"
IMAGE_KIB=$(( ( $(du -sk "$WORK/agent-image" | cut -f1) * 5 / 4 + 8192 + 2047 ) / 2048 * 2048 ))
truncate -s "${IMAGE_KIB}K" "$WORK/agent.img"
E2FSPROGS_FAKE_TIME=$EPOCH mkfs.ext4 -q -F -b 4096 -m 0 -O ^has_journal,^resize_inode -L javakata-agent \
        -U 6a617661-6b61-7461-2d61-67656e740001 -E hash_seed=6a617661-6b61-7461-2d61-67656e740002,root_owner=0:0 \
        -d "$WORK/agent-image" "$WORK/agent.img" > "$WORK/mkfs.log" 2>&1 \
    || { cat "$WORK/mkfs.log" >&2; exit 1; }

# --- reproducible cpio: fixed mtimes, sorted names, root ownership ---------------------------------
(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc --reproducible -R 0:0) \
    > "$WORK/initrd.img"
cp "$WORK/kernel/boot/vmlinuz-$KREL" "$OUT/vmlinuz.tmp"
mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
mv "$WORK/initrd.img" "$OUT/initrd.img"
mv "$WORK/agent.img" "$OUT/agent.img"
echo "$KREL" > "$OUT/kernel-release"
# The manifest ties the kernel and initrd to the agent inside: `containerd-shim-javakata-v2 check` compares its
# agent protocol hash (of javakata/agent.proto, which the shim jar carries too) and the files' hashes with what is
# installed, so a shim and a guest from different builds, or a half-finished install, are named before a pod fails.
(cd "$WORK" && "$JDK/bin/jar" xf "$AGENT_JAR_ABS" javakata/agent.proto)
[ -f "$WORK/javakata/agent.proto" ] || { echo "no javakata/agent.proto in $AGENT_JAR" >&2; exit 1; }
AGENT_VERSION=$(cd "$WORK" && "$JDK/bin/jar" xf "$AGENT_JAR_ABS" META-INF/MANIFEST.MF \
    && sed -n 's/^Implementation-Version: *//p' META-INF/MANIFEST.MF | tr -d '\r')
sha() { sha256sum "$1" | cut -d' ' -f1; }
printf '{\n  "version": "%s",\n  "agent_protocol_sha256": "%s",\n  "kernel_release": "%s",\n  "kernel_sha256": "%s",\n  "initrd_sha256": "%s",\n  "agent_image_sha256": "%s"\n}\n' \
    "${AGENT_VERSION:-unknown}" "$(sha "$WORK/javakata/agent.proto")" "$KREL" "$(sha "$OUT/vmlinuz")" \
    "$(sha "$OUT/initrd.img")" "$(sha "$OUT/agent.img")" > "$OUT/guest-manifest.json.tmp"
mv "$OUT/guest-manifest.json.tmp" "$OUT/guest-manifest.json"
echo "$STAMP" > "$OUT/.stamp"
echo "guest image built in $OUT: kernel $KREL, initrd $(du -m "$OUT/initrd.img" | cut -f1) MiB," \
    "agent image $(du -m --apparent-size "$OUT/agent.img" | cut -f1) MiB (jre $(du -sm "$WORK/agent-image/jre" | cut -f1) MiB)"
