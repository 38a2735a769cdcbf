#!/usr/bin/env bash
# Times the guest's OCI runtime against runc inside a javakata guest: `create`, `start` and `delete --force` of one
# container (busybox `sleep`, pid/ipc/uts/mount/network namespaces, a memory limit in its own cgroup, a small
# seccomp filter), ROUNDS times each, alternating, in one VM booted as a pod's is (same kernel, QEMU flags of
# the default configuration: q35, 1 vCPU, 512 MiB, TCG unless KVM is usable).
#
#   scripts/bench-oci-runtime.sh [--initrd build/guest/initrd.img] [--kernel build/guest/vmlinuz] [--rounds 5]
#
# The VM's initrd is a copy of the guest's with the host's runc (and its libseccomp) added and the agent's exec
# replaced by the benchmark; it runs both runtimes with the same config.json. Times are from /proc/uptime
# (10 ms steps). Needs root (cpio extraction keeps ownership), qemu-system-x86_64 and runc.
set -euo pipefail

ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
INITRD=$ROOT_DIR/build/guest/initrd.img KERNEL=$ROOT_DIR/build/guest/vmlinuz ROUNDS=5
while (($# > 0)); do
    case "$1" in
        --initrd) INITRD=${2:?}; shift 2 ;;
        --kernel) KERNEL=${2:?}; shift 2 ;;
        --rounds) ROUNDS=${2:?}; shift 2 ;;
        *) echo "usage: $0 [--initrd FILE] [--kernel FILE] [--rounds N]" >&2; exit 2 ;;
    esac
done
[[ -f "$INITRD" && -f "$KERNEL" ]] || { echo "no guest image: $INITRD, $KERNEL" >&2; exit 1; }
RUNC=$(command -v runc) || { echo "runc not found (Debian package runc)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/javakata-bench-oci.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir "$WORK/root"
(cd "$WORK/root" && cpio -idm --quiet < "$INITRD")
cp "$RUNC" "$WORK/root/usr/sbin/runc"
ldd "$RUNC" | awk '/=> \// {print $3}' | while read -r lib; do
    [[ -e "$WORK/root/lib/x86_64-linux-gnu/$(basename "$lib")" ]] || cp -L "$lib" "$WORK/root/lib/x86_64-linux-gnu/"
done
runtimes="runc"
[[ -L "$WORK/root/usr/sbin/crun" || -e "$WORK/root/usr/sbin/crun" ]] && runtimes="crun runc"

cat > "$WORK/root/bench.sh" <<EOF
#!/bin/sh
B=/tmp/bench
mkdir -p \$B/rootfs/bin \$B/rootfs/proc \$B/rootfs/dev
cp /bin/busybox \$B/rootfs/bin/busybox
ln -s busybox \$B/rootfs/bin/sleep
cat > \$B/config.json <<'JSON'
{"ociVersion": "1.0.2",
 "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "args": ["/bin/sleep", "1000"], "env": ["PATH=/bin"],
  "cwd": "/", "noNewPrivileges": true,
  "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]}},
 "root": {"path": "rootfs"},
 "hostname": "bench",
 "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]}],
 "linux": {"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}],
  "cgroupsPath": "/bench",
  "resources": {"memory": {"limit": 67108864}},
  "seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
   "syscalls": [{"names": ["kexec_load", "reboot", "swapon", "swapoff"], "action": "SCMP_ACT_ERRNO"}]}}}
JSON
now() { read -r up _ < /proc/uptime; echo "\$up"; }
\$RUNTIME_VERSIONS
for round in \$(seq 1 $ROUNDS); do
    for rt in $runtimes; do
        t0=\$(now)
        /usr/sbin/\$rt --root /run/\$rt create --bundle \$B c\$round > /dev/null 2>&1 < /dev/null || echo "bench: \$rt create failed"
        t1=\$(now)
        /usr/sbin/\$rt --root /run/\$rt start c\$round || echo "bench: \$rt start failed"
        t2=\$(now)
        /usr/sbin/\$rt --root /run/\$rt delete --force c\$round || echo "bench: \$rt delete failed"
        t3=\$(now)
        echo "bench: \$rt round=\$round create=\$t0..\$t1 start=\$t1..\$t2 delete=\$t2..\$t3"
    done
done
echo "bench: done"
EOF
sed -i 's#^\$RUNTIME_VERSIONS$#for rt in '"$runtimes"'; do echo "bench: version $rt $(/usr/sbin/$rt --version | head -1)"; done#' \
    "$WORK/root/bench.sh"
chmod 0755 "$WORK/root/bench.sh"
# The guest's init, with the agent's exec replaced by the benchmark.
sed -i 's#^exec /opt/jre/bin/java .*#/bench.sh; poweroff -f#' "$WORK/root/init"
grep -q '^/bench.sh; poweroff -f' "$WORK/root/init" || { echo "the guest's init has no agent exec line" >&2; exit 1; }
(cd "$WORK/root" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) > "$WORK/initrd.img"

# KVM when /dev/kvm opens and is not a PVM host's (kvm_pvm as the only KVM module), which runs only PVM guest kernels.
accel=tcg
if [[ -w /dev/kvm ]] && { [[ ! -d /sys/module/kvm_pvm ]] || [[ -d /sys/module/kvm_intel ]] || [[ -d /sys/module/kvm_amd ]]; }; then
    accel=kvm
fi
timeout 600 qemu-system-x86_64 -machine q35,accel=$accel -cpu max -smp 1 -m 512 -nodefaults -no-user-config \
    -nographic -serial stdio -no-reboot -kernel "$KERNEL" -initrd "$WORK/initrd.img" \
    -append "console=ttyS0 panic=-1 quiet" < /dev/null > "$WORK/console.log" 2>&1 || true
grep -q '^bench: done' "$WORK/console.log" || { echo "the benchmark did not finish:" >&2; tail -30 "$WORK/console.log" >&2; exit 1; }
grep '^bench: version' "$WORK/console.log" | sed 's/^bench: //'
grep '^bench: .* failed' "$WORK/console.log" && exit 1
# Median, min and max of each step (and of create + start), in milliseconds.
grep '^bench: [a-z]* round=' "$WORK/console.log" | tr -d '\r' | awk '
    { sum = 0
      for (i = 4; i <= 6; i++) { split($i, kv, "="); split(kv[2], t, /\.\./); ms = (t[2] - t[1]) * 1000
                                 printf "%s %s %.0f\n", $2, kv[1], ms; if (i < 6) sum += ms }
      printf "%s create+start %.0f\n", $2, sum }' \
    | sort -k1,1 -k2,2 -k3,3n > "$WORK/steps"
echo "accel=$accel, milliseconds over $ROUNDS rounds: median (min-max)"
cut -d' ' -f1,2 "$WORK/steps" | uniq | while read -r rt step; do
    grep "^$rt $step " "$WORK/steps" | cut -d' ' -f3 | awk -v name="$rt $step" '
        { v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
                             printf "%-17s %6.0f (%d-%d)\n", name, m, v[1], v[NR] }'
done
