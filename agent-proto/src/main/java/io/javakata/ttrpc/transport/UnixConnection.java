package io.javakata.ttrpc.transport;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.Objects;

/**
 * A connected Unix-domain stream socket. Its streams call {@link SocketChannel#read} and
 * {@link SocketChannel#write} directly rather than going through {@code Channels.newInputStream}, whose
 * streams can hold the channel's blocking lock across a concurrent read and write.
 *
 * <p>One thread may read while others write (callers serialise their writers). {@link #close()} makes a
 * pending read return end of stream. Blocking I/O here does not pin a virtual thread's carrier.
 */
public final class UnixConnection implements Connection {

    private final SocketChannel channel;
    private final String description;
    private final InputStream input = new Input();
    private final OutputStream output = new Output();

    private UnixConnection(SocketChannel channel, String description) {
        this.channel = channel;
        this.description = description;
    }

    /** Connects to the socket at {@code socket}; one attempt. */
    public static UnixConnection connect(Path socket) throws IOException {
        SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            channel.connect(UnixDomainSocketAddress.of(socket));
        } catch (IOException e) {
            channel.close();
            throw new IOException("connect unix:" + socket + ": " + e.getMessage(), e);
        }
        return new UnixConnection(channel, "unix:" + socket);
    }

    /** Wraps a connected blocking channel, e.g. one a server accepted; takes ownership of it. */
    public static UnixConnection wrap(SocketChannel channel, String description) {
        if (!channel.isBlocking()) {
            throw new IllegalArgumentException(description + ": channel must be in blocking mode");
        }
        return new UnixConnection(channel, description);
    }

    /** The underlying channel, for socket options such as peer credentials. */
    public SocketChannel channel() {
        return channel;
    }

    @Override
    public InputStream input() {
        return input;
    }

    @Override
    public OutputStream output() {
        return output;
    }

    @Override
    public String describe() {
        return description;
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }

    private final class Input extends InputStream {
        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) == -1 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            Objects.checkFromIndexSize(off, len, b.length);
            if (len == 0) {
                return 0;
            }
            try {
                return channel.read(ByteBuffer.wrap(b, off, len));
            } catch (ClosedChannelException e) {
                return -1; // closed by us, possibly from another thread: the stream is over
            }
        }

        @Override
        public void close() throws IOException {
            UnixConnection.this.close();
        }
    }

    private final class Output extends OutputStream {
        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            Objects.checkFromIndexSize(off, len, b.length);
            ByteBuffer buffer = ByteBuffer.wrap(b, off, len);
            while (buffer.hasRemaining()) {
                channel.write(buffer);
            }
        }

        @Override
        public void close() throws IOException {
            UnixConnection.this.close();
        }
    }
}
