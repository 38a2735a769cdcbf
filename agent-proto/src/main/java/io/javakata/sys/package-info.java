/**
 * Every native call javakata makes, through the Foreign Function and Memory API; the only package that
 * imports {@code java.lang.foreign}.
 *
 * <p>{@code LibC} links all method handles from the C library when it initialises, capturing
 * {@code errno} per call. The public classes are thin typed wrappers ({@link io.javakata.sys.Mounts},
 * {@link io.javakata.sys.Fifos}, {@link io.javakata.sys.Signals}, {@link io.javakata.sys.Processes},
 * {@link io.javakata.sys.Fds}, {@link io.javakata.sys.VsockSocket}); a call that fails throws
 * {@link io.javakata.sys.ErrnoException} naming the call, its arguments and the errno. All are
 * thread-safe. A call that blocks pins its carrier thread, so long waits (waitid, vsock reads) belong
 * on platform threads. The JVM needs {@code --enable-native-access} for this module.
 * {@code -Djavakata.trace.syscalls=true} logs every call at DEBUG.
 */
package io.javakata.sys;
