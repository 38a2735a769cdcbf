package io.javakata.ttrpc;

import io.javakata.ttrpc.transport.UnixConnection;
import jdk.net.ExtendedSocketOptions;
import jdk.net.UnixDomainPrincipal;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Serves a {@link TtrpcServer} on a Unix socket: one virtual thread accepts, and each connection is
 * served on its own virtual thread. Only peers running as our own user are served, as containerd's
 * {@code UnixSocketRequireSameUser} does (containerd and its shims run as the same user).
 *
 * <p>Thread-safe. {@link #close()} stops accepting, closes open connections and deletes the socket
 * file; it does not close the TtrpcServer, which may serve other connections.
 */
public final class UnixServer implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(UnixServer.class.getName());

    private final Path socketPath;
    private final ServerSocketChannel channel;
    private final TtrpcServer server;
    private final String ownUser;
    private final Set<UnixConnection> open = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    private UnixServer(Path socketPath, ServerSocketChannel channel, TtrpcServer server, String ownUser) {
        this.socketPath = socketPath;
        this.channel = channel;
        this.server = server;
        this.ownUser = ownUser;
    }

    /**
     * Binds {@code socketPath} (creating its parent directories and replacing a stale socket file), makes
     * it mode 0600 and starts accepting.
     *
     * @throws IOException if the path holds something other than a socket, or a live server already
     *         listens there
     */
    public static UnixServer listen(Path socketPath, TtrpcServer server) throws IOException {
        Files.createDirectories(socketPath.toAbsolutePath().getParent());
        removeStale(socketPath);
        String ownUser = Files.getOwner(Path.of("/proc/self")).getName();
        ServerSocketChannel channel = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            channel.bind(UnixDomainSocketAddress.of(socketPath));
            Files.setPosixFilePermissions(socketPath, PosixFilePermissions.fromString("rw-------"));
        } catch (IOException e) {
            channel.close();
            Files.deleteIfExists(socketPath);
            throw new IOException("listen on unix:" + socketPath + ": " + e.getMessage(), e);
        }
        UnixServer unixServer = new UnixServer(socketPath, channel, server, ownUser);
        Threads.startVirtual("ttrpc-accept", unixServer::acceptLoop);
        return unixServer;
    }

    private static void removeStale(Path socketPath) throws IOException {
        if (!Files.exists(socketPath, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        if (Files.isRegularFile(socketPath) || Files.isDirectory(socketPath)) {
            throw new IOException("listen on unix:" + socketPath + ": the path exists and is not a socket");
        }
        boolean live;
        try (SocketChannel probe = SocketChannel.open(UnixDomainSocketAddress.of(socketPath))) {
            live = probe.isConnected();
        } catch (IOException refused) {
            live = false;
        }
        if (live) {
            throw new IOException("listen on unix:" + socketPath + ": a server already listens there");
        }
        Files.deleteIfExists(socketPath);
    }

    private void acceptLoop() {
        while (!closed) {
            SocketChannel accepted;
            try {
                accepted = channel.accept();
            } catch (ClosedChannelException e) {
                return;
            } catch (IOException e) {
                if (!closed) {
                    LOG.log(System.Logger.Level.WARNING, "accept on unix:{0} failed: {1}", socketPath, e.toString());
                }
                return;
            }
            UnixConnection connection = UnixConnection.wrap(accepted, "unix:" + socketPath + " (peer)");
            Threads.startVirtual("ttrpc-conn", () -> serve(connection));
        }
    }

    private void serve(UnixConnection connection) {
        try {
            UnixDomainPrincipal peer = connection.channel().getOption(ExtendedSocketOptions.SO_PEERCRED);
            if (!peer.user().getName().equals(ownUser)) {
                LOG.log(System.Logger.Level.WARNING, "unix:{0}: refusing peer running as {1}, not {2}",
                        socketPath, peer.user().getName(), ownUser);
                connection.close();
                return;
            }
            open.add(connection);
            if (closed) {
                connection.close();
                return;
            }
            server.serve(connection);
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "unix:{0}: {1}", socketPath, e.toString());
        } finally {
            open.remove(connection);
        }
    }

    /** Stops accepting, closes open connections, deletes the socket file. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            channel.close();
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "close unix:{0}: {1}", socketPath, e.toString());
        }
        for (UnixConnection connection : open) {
            try {
                connection.close();
            } catch (IOException e) {
                LOG.log(System.Logger.Level.DEBUG, "close {0}: {1}", connection.describe(), e.toString());
            }
        }
        try {
            Files.deleteIfExists(socketPath);
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "delete unix:{0}: {1}", socketPath, e.toString());
        }
    }
}
