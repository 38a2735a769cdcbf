package io.javakata.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static io.javakata.sys.LibC.linkReturningError;
import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * Starts a program with {@code posix_spawnp(3)}: glibc clones the caller with {@code CLONE_VM | CLONE_VFORK}, applies
 * the file actions in the child and execs the program, and the call returns once the exec succeeded or with the
 * error that stopped it. The JDK's {@link ProcessBuilder} on Linux spawns its helper {@code jspawnhelper} instead,
 * which then execs the program: one more exec of a dynamically linked binary per process, which costs the guest
 * agent ~60 ms a process under TCG (docs/benchmarks.md, "The agent's commands without the JDK's spawn helper").
 *
 * <p>The child gets the given standard descriptors, every other descriptor closed
 * ({@code posix_spawn_file_actions_addclosefrom_np}, glibc 2.34), an empty signal mask and every signal's default
 * disposition. The caller reaps it: nothing here waits for it.
 */
public final class Spawn {

    /** What one standard descriptor of the child is. */
    public sealed interface Stdio {

        /** The caller's own descriptor of that number. */
        record Inherit() implements Stdio {
        }

        /** {@code file} opened for reading ({@code O_RDONLY}). */
        record ReadFrom(Path file) implements Stdio {
        }

        /** {@code file} opened for writing, created (mode 0666 less the umask), truncated or appended to. */
        record WriteTo(Path file, boolean append) implements Stdio {
        }

        /** A duplicate of the child's descriptor {@code fd}, set up before this one (stderr as stdout). */
        record SameAs(int fd) implements Stdio {
        }
    }

    public static final Stdio INHERIT = new Stdio.Inherit();

    private static final MethodHandle POSIX_SPAWNP = linkReturningError("posix_spawnp", JAVA_INT,
            ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS);
    private static final MethodHandle FILE_ACTIONS_INIT =
            linkReturningError("posix_spawn_file_actions_init", JAVA_INT, ADDRESS);
    private static final MethodHandle FILE_ACTIONS_DESTROY =
            linkReturningError("posix_spawn_file_actions_destroy", JAVA_INT, ADDRESS);
    private static final MethodHandle ADD_OPEN = linkReturningError("posix_spawn_file_actions_addopen", JAVA_INT,
            ADDRESS, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT);
    private static final MethodHandle ADD_DUP2 =
            linkReturningError("posix_spawn_file_actions_adddup2", JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT);
    private static final MethodHandle ADD_CLOSEFROM =
            linkReturningError("posix_spawn_file_actions_addclosefrom_np", JAVA_INT, ADDRESS, JAVA_INT);
    private static final MethodHandle ADD_CHDIR =
            linkReturningError("posix_spawn_file_actions_addchdir_np", JAVA_INT, ADDRESS, ADDRESS);
    private static final MethodHandle ATTR_INIT = linkReturningError("posix_spawnattr_init", JAVA_INT, ADDRESS);
    private static final MethodHandle ATTR_DESTROY = linkReturningError("posix_spawnattr_destroy", JAVA_INT, ADDRESS);
    private static final MethodHandle ATTR_SETFLAGS =
            linkReturningError("posix_spawnattr_setflags", JAVA_INT, ADDRESS, JAVA_SHORT);
    private static final MethodHandle ATTR_SETSIGMASK =
            linkReturningError("posix_spawnattr_setsigmask", JAVA_INT, ADDRESS, ADDRESS);
    private static final MethodHandle ATTR_SETSIGDEFAULT =
            linkReturningError("posix_spawnattr_setsigdefault", JAVA_INT, ADDRESS, ADDRESS);
    /** These two set errno instead, and fail only on a NULL set: their results are not checked. */
    private static final MethodHandle SIGEMPTYSET = linkReturningError("sigemptyset", JAVA_INT, ADDRESS);
    private static final MethodHandle SIGFILLSET = linkReturningError("sigfillset", JAVA_INT, ADDRESS);

    /** glibc's spawn.h. */
    private static final short POSIX_SPAWN_SETSIGDEF = 0x04;
    private static final short POSIX_SPAWN_SETSIGMASK = 0x08;
    /**
     * Room for glibc's {@code posix_spawn_file_actions_t} (80 bytes on x86-64), {@code posix_spawnattr_t} (336) and
     * {@code sigset_t} (128), with margin: they are only ever passed to glibc's own functions.
     */
    private static final long OPAQUE_BYTES = 512;

    private Spawn() {
    }

    /**
     * Starts {@code argv} (its first word looked up in {@code PATH} unless it holds a slash) with exactly the
     * environment {@code env}, in {@code directory} (null: the caller's).
     *
     * @return the child's pid
     * @throws ErrnoException if the program, a redirected file or the directory could not be opened, or the exec
     *                        failed; the message names the program and the files
     */
    public static int spawn(List<String> argv, Map<String, String> env, Path directory, Stdio stdin, Stdio stdout,
            Stdio stderr) throws ErrnoException {
        if (argv.isEmpty()) {
            throw new IllegalArgumentException("spawn: no program");
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment actions = arena.allocate(OPAQUE_BYTES, 16);
            MemorySegment attr = arena.allocate(OPAQUE_BYTES, 16);
            check(argv, "posix_spawn_file_actions_init", (int) FILE_ACTIONS_INIT.invokeExact(actions));
            try {
                check(argv, "posix_spawnattr_init", (int) ATTR_INIT.invokeExact(attr));
                try {
                    addStdio(arena, actions, 0, stdin, argv);
                    addStdio(arena, actions, 1, stdout, argv);
                    addStdio(arena, actions, 2, stderr, argv);
                    check(argv, "closefrom 3", (int) ADD_CLOSEFROM.invokeExact(actions, 3));
                    if (directory != null) {
                        check(argv, "chdir " + directory,
                                (int) ADD_CHDIR.invokeExact(actions, arena.allocateFrom(directory.toString())));
                    }
                    MemorySegment none = arena.allocate(OPAQUE_BYTES, 16);
                    MemorySegment all = arena.allocate(OPAQUE_BYTES, 16);
                    // These two fail only on a NULL set (EINVAL, through errno rather than their result).
                    int emptied = (int) SIGEMPTYSET.invokeExact(none);
                    int filled = (int) SIGFILLSET.invokeExact(all);
                    check(argv, "setsigmask", (int) ATTR_SETSIGMASK.invokeExact(attr, none));
                    check(argv, "setsigdefault", (int) ATTR_SETSIGDEFAULT.invokeExact(attr, all));
                    check(argv, "setflags", (int) ATTR_SETFLAGS.invokeExact(attr,
                            (short) (POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)));
                    MemorySegment pid = arena.allocate(JAVA_INT);
                    MemorySegment file = arena.allocateFrom(argv.getFirst());
                    int error = (int) POSIX_SPAWNP.invokeExact(pid, file, actions, attr,
                            strings(arena, argv), strings(arena, env.entrySet().stream()
                                    .map(e -> e.getKey() + "=" + e.getValue()).toList()));
                    if (error != 0) {
                        throw new ErrnoException("spawn " + argv.getFirst() + describe(stdin, stdout, stderr), error);
                    }
                    return pid.get(JAVA_INT, 0);
                } finally {
                    int ignored = (int) ATTR_DESTROY.invokeExact(attr);
                }
            } finally {
                int ignored = (int) FILE_ACTIONS_DESTROY.invokeExact(actions);
            }
        } catch (ErrnoException | IllegalArgumentException e) {
            throw e;
        } catch (Throwable t) {
            throw LibC.propagate(t);
        }
    }

    private static void addStdio(Arena arena, MemorySegment actions, int fd, Stdio stdio, List<String> argv)
            throws Throwable {
        int result = switch (stdio) {
            case Stdio.Inherit i -> 0;
            case Stdio.ReadFrom r -> (int) ADD_OPEN.invokeExact(actions, fd,
                    arena.allocateFrom(r.file().toString()), Fds.O_RDONLY, 0);
            case Stdio.WriteTo w -> (int) ADD_OPEN.invokeExact(actions, fd,
                    arena.allocateFrom(w.file().toString()),
                    Fds.O_WRONLY | Fds.O_CREAT | (w.append() ? Fds.O_APPEND : Fds.O_TRUNC),
                    0666);
            case Stdio.SameAs s -> (int) ADD_DUP2.invokeExact(actions, s.fd(), fd);
        };
        check(argv, "descriptor " + fd, result);
    }

    /** posix_spawn's helpers return an error number instead of setting errno. */
    private static void check(List<String> argv, String step, int error) throws ErrnoException {
        if (error != 0) {
            throw new ErrnoException("spawn " + argv.getFirst() + ": " + step, error);
        }
    }

    /** " (stdin FILE, stdout FILE, …)" for the redirected descriptors, which an error may be about. */
    private static String describe(Stdio stdin, Stdio stdout, Stdio stderr) {
        StringBuilder files = new StringBuilder();
        String[] names = {"stdin", "stdout", "stderr"};
        Stdio[] all = {stdin, stdout, stderr};
        for (int i = 0; i < 3; i++) {
            Path file = switch (all[i]) {
                case Stdio.ReadFrom r -> r.file();
                case Stdio.WriteTo w -> w.file();
                default -> null;
            };
            if (file != null) {
                files.append(files.isEmpty() ? " (" : ", ").append(names[i]).append(' ').append(file);
            }
        }
        return files.isEmpty() ? "" : files.append(')').toString();
    }

    /** A NULL-terminated array of C strings in {@code arena}. */
    private static MemorySegment strings(Arena arena, List<String> values) {
        MemorySegment array = arena.allocate(ADDRESS, values.size() + 1L);
        for (int i = 0; i < values.size(); i++) {
            array.setAtIndex(ADDRESS, i, arena.allocateFrom(values.get(i)));
        }
        array.setAtIndex(ADDRESS, values.size(), MemorySegment.NULL);
        return array;
    }
}
