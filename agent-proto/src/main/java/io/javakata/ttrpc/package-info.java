/**
 * ttrpc v1.1 as containerd speaks it (containerd/ttrpc {@code PROTOCOL.md}, {@code channel.go},
 * {@code server.go}): frames ({@link io.javakata.ttrpc.Frame}, {@link io.javakata.ttrpc.FrameCodec}), a
 * multiplexing {@link io.javakata.ttrpc.TtrpcClient}, a {@link io.javakata.ttrpc.TtrpcServer} that runs each request on its own virtual thread, and
 * {@link io.javakata.ttrpc.UnixServer} to serve it on a Unix socket.
 *
 * <p>Errors travel as {@link io.javakata.ttrpc.RuntimeStatusException}: a server maps it to
 * {@code Response.status} in one place, and a client maps a non-OK status back to the same code, so a
 * code raised in the guest reaches containerd unchanged. Client and server work over any
 * {@link io.javakata.ttrpc.transport.Connection}.
 */
package io.javakata.ttrpc;
