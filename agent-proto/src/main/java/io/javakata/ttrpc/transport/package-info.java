/**
 * The byte streams ttrpc runs on, and how to open them: Unix sockets, a virtio-serial port from either
 * side, AF_VSOCK, hybrid vsock, and in-memory pipes for tests. A {@link io.javakata.ttrpc.transport.Transport}
 * reaches a guest's agent, retrying with back-off until its timeout; a
 * {@link io.javakata.ttrpc.transport.Connection} is one open stream.
 */
package io.javakata.ttrpc.transport;
