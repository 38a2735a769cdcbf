package io.javakata.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * A seccomp filter for a host process that writes files on the guest's behalf (virtiofsd): it refuses,
 * with EPERM, every system call that would make a setuid or setgid file or a device node, whatever the
 * process's capabilities. Dropping capabilities alone cannot give that: virtiofsd runs as root and owns
 * the files it creates, and the owner may always {@code chmod u+s} (chmod(2)); so a guest could leave a
 * setuid-root binary in a read-write hostPath. The filter looks only at register arguments (modes and
 * flags), which seccomp can inspect, and lets everything else through: the process's own seccomp filter
 * stays in force on top of it (filters stack, the strictest answer wins; seccomp(2)).
 *
 * <p>Refused: chmod, fchmod, fchmodat, fchmodat2 with S_ISUID or S_ISGID in the mode; open, openat and
 * creat creating with those bits; mknod and mknodat of a character or block device or with those bits; any
 * system call of another ABI than x86-64 (i386 or x32 entry points). Numbers and {@code struct seccomp_data}
 * offsets from linux/seccomp.h, linux/audit.h and arch/x86/entry/syscalls/syscall_64.tbl.
 */
public final class Seccomp {

    static final int AUDIT_ARCH_X86_64 = 0xc000003e;
    static final int X32_SYSCALL_BIT = 0x40000000;
    static final int SECCOMP_RET_ALLOW = 0x7fff0000;
    static final int SECCOMP_RET_ERRNO = 0x00050000;
    static final int EPERM = 1;
    static final int SECCOMP_SET_MODE_FILTER = 1;
    static final long SYS_SECCOMP = 317;
    static final int PR_SET_NO_NEW_PRIVS = 38;

    static final int NR_OPEN = 2;
    static final int NR_CREAT = 85;
    static final int NR_CHMOD = 90;
    static final int NR_FCHMOD = 91;
    static final int NR_MKNOD = 133;
    static final int NR_OPENAT = 257;
    static final int NR_MKNODAT = 259;
    static final int NR_FCHMODAT = 268;
    static final int NR_FCHMODAT2 = 452;

    static final int S_ISUID = 04000;
    static final int S_ISGID = 02000;
    static final int S_IFMT = 0170000;
    static final int S_IFCHR = 0020000;
    static final int S_IFBLK = 0060000;
    static final int O_CREAT = 0100;
    static final int O_TMPFILE_BITS = 020000000;

    // Classic BPF opcodes (linux/bpf_common.h).
    private static final short LD_W_ABS = 0x20;
    private static final short JMP_JEQ_K = 0x15;
    private static final short JMP_JSET_K = 0x45;
    private static final short JMP_JGE_K = 0x35;
    private static final short ALU_AND_K = 0x54;
    private static final short RET_K = 0x06;

    private Seccomp() {
    }

    /** One BPF instruction, {@code struct sock_filter}: code, jt, jf, k. */
    record Insn(short code, int jt, int jf, int k) {
    }

    /** The filter as BPF instructions (see the class comment). */
    static List<Insn> noPrivilegedFilesProgram() {
        Program p = new Program();
        p.load(4); // arch
        p.jumpUnless(AUDIT_ARCH_X86_64, "deny");
        p.load(0); // nr
        p.add(new Insn(JMP_JGE_K, 0, 0, X32_SYSCALL_BIT), "deny", null);
        p.jumpIf(NR_CHMOD, "mode1");
        p.jumpIf(NR_FCHMOD, "mode1");
        p.jumpIf(NR_CREAT, "mode1");
        p.jumpIf(NR_FCHMODAT, "mode2");
        p.jumpIf(NR_FCHMODAT2, "mode2");
        p.jumpIf(NR_OPEN, "open");
        p.jumpIf(NR_OPENAT, "openat");
        p.jumpIf(NR_MKNOD, "node1");
        p.jumpIf(NR_MKNODAT, "node2");
        p.ret(SECCOMP_RET_ALLOW);

        p.label("open"); // open(path, flags, mode): only a create uses the mode
        p.load(argLow(1));
        p.add(new Insn(JMP_JSET_K, 0, 0, O_CREAT | O_TMPFILE_BITS), "mode2", "allow");
        p.label("openat"); // openat(dirfd, path, flags, mode)
        p.load(argLow(2));
        p.add(new Insn(JMP_JSET_K, 0, 0, O_CREAT | O_TMPFILE_BITS), "mode3", "allow");

        p.label("mode1");
        p.load(argLow(1));
        p.add(new Insn(JMP_JSET_K, 0, 0, S_ISUID | S_ISGID), "deny", "allow");
        p.label("mode2");
        p.load(argLow(2));
        p.add(new Insn(JMP_JSET_K, 0, 0, S_ISUID | S_ISGID), "deny", "allow");
        p.label("mode3");
        p.load(argLow(3));
        p.add(new Insn(JMP_JSET_K, 0, 0, S_ISUID | S_ISGID), "deny", "allow");

        p.label("node1"); // mknod(path, mode, dev)
        p.load(argLow(1));
        p.jumpTo("node");
        p.label("node2"); // mknodat(dirfd, path, mode, dev)
        p.load(argLow(2));
        p.label("node");
        p.add(new Insn(JMP_JSET_K, 0, 0, S_ISUID | S_ISGID), "deny", null);
        p.add(new Insn(ALU_AND_K, 0, 0, S_IFMT), null, null);
        p.jumpIf(S_IFCHR, "deny");
        p.jumpIf(S_IFBLK, "deny");
        p.label("allow");
        p.ret(SECCOMP_RET_ALLOW);
        p.label("deny");
        p.ret(SECCOMP_RET_ERRNO | EPERM);
        return p.resolve();
    }

    /** The byte offset of the low 32 bits of argument {@code i} in {@code struct seccomp_data} (little endian). */
    static int argLow(int i) {
        return 16 + 8 * i;
    }

    /** The program as the kernel reads it: 8 bytes per instruction, native (little) endian. */
    static byte[] bytes(List<Insn> program) {
        ByteBuffer out = ByteBuffer.allocate(program.size() * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (Insn insn : program) {
            out.putShort(insn.code()).put((byte) insn.jt()).put((byte) insn.jf()).putInt(insn.k());
        }
        return out.array();
    }

    /**
     * Installs {@link #noPrivilegedFilesProgram()} on the calling thread, which it then holds for life and
     * passes to what it execs. Sets no_new_privs first, as seccomp(2) requires of a caller without
     * CAP_SYS_ADMIN. Call it on the thread that will execve.
     */
    public static void installNoPrivilegedFiles() throws ErrnoException {
        byte[] program = bytes(noPrivilegedFilesProgram());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = LibC.callState(arena);
            int result = (int) LibC.PRCTL.invokeExact(state, PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L);
            LibC.check("prctl(PR_SET_NO_NEW_PRIVS)", result, state);
            MemorySegment filter = arena.allocate(program.length, 8);
            MemorySegment.copy(program, 0, filter, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, program.length);
            // struct sock_fprog { unsigned short len; struct sock_filter *filter; }: 16 bytes, filter at 8.
            MemorySegment fprog = arena.allocate(16, 8);
            fprog.set(JAVA_SHORT, 0, (short) (program.length / 8));
            fprog.set(ADDRESS, 8, filter);
            long r = (long) LibC.SYSCALL_SECCOMP.invokeExact(state, SYS_SECCOMP, (long) SECCOMP_SET_MODE_FILTER,
                    0L, fprog);
            LibC.check("seccomp(SECCOMP_SET_MODE_FILTER)", r, state);
        } catch (ErrnoException e) {
            throw e;
        } catch (Throwable t) {
            throw LibC.propagate(t);
        }
    }

    /** A tiny assembler with forward labels for the jumps. */
    private static final class Program {
        private final List<Insn> insns = new ArrayList<>();
        private final List<String[]> targets = new ArrayList<>();
        private final java.util.Map<String, Integer> labels = new java.util.HashMap<>();

        void add(Insn insn, String jt, String jf) {
            insns.add(insn);
            targets.add(new String[] {jt, jf});
        }

        void load(int offset) {
            add(new Insn(LD_W_ABS, 0, 0, offset), null, null);
        }

        void jumpIf(int value, String label) {
            add(new Insn(JMP_JEQ_K, 0, 0, value), label, null);
        }

        void jumpUnless(int value, String label) {
            add(new Insn(JMP_JEQ_K, 0, 0, value), null, label);
        }

        /** An unconditional jump: JEQ with both branches to {@code label}. */
        void jumpTo(String label) {
            add(new Insn(JMP_JEQ_K, 0, 0, 0), label, label);
        }

        void ret(int value) {
            add(new Insn(RET_K, 0, 0, value), null, null);
        }

        void label(String name) {
            labels.put(name, insns.size());
        }

        List<Insn> resolve() {
            List<Insn> out = new ArrayList<>();
            for (int i = 0; i < insns.size(); i++) {
                Insn insn = insns.get(i);
                out.add(new Insn(insn.code(), offset(i, targets.get(i)[0]), offset(i, targets.get(i)[1]), insn.k()));
            }
            return out;
        }

        private int offset(int from, String label) {
            if (label == null) {
                return 0;
            }
            int jump = labels.get(label) - from - 1;
            if (jump < 0 || jump > 255) {
                throw new IllegalStateException("BPF jump to " + label + " out of range: " + jump);
            }
            return jump;
        }
    }
}
