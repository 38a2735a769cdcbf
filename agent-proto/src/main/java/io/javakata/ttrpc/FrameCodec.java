package io.javakata.ttrpc;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;

/**
 * Reads and writes ttrpc frames: a 10-byte header (data length u32, stream id u32, both big-endian; type
 * u8; flags u8) and the data (containerd/ttrpc {@code channel.go}). Stateless and thread-safe; callers
 * serialise writes to one stream themselves.
 */
public final class FrameCodec {

    public static final int HEADER_LENGTH = 10;
    /** ttrpc's {@code messageLengthMax}: 4 MiB. */
    public static final int MAX_DATA_LENGTH = 4 << 20;

    private FrameCodec() {
    }

    /** The frame as header and data in one array, so that it can go out in one write. */
    public static byte[] encode(Frame frame) {
        ByteBuffer buffer = ByteBuffer.allocate(HEADER_LENGTH + frame.data().length);
        buffer.putInt(frame.data().length).putInt(frame.streamId())
                .put((byte) frame.type()).put((byte) frame.flags()).put(frame.data());
        return buffer.array();
    }

    /** Writes one frame and flushes. */
    public static void write(OutputStream out, Frame frame) throws IOException {
        out.write(encode(frame));
        out.flush();
    }

    /**
     * Reads one frame, blocking until all of it has arrived.
     *
     * @return the frame, or null if the stream ended cleanly before a new frame began
     * @throws EOFException if the stream ended inside a frame
     * @throws OversizeFrameException if the header announces more than 4 MiB; its data is left unread
     */
    public static Frame read(InputStream in) throws IOException {
        byte[] header = new byte[HEADER_LENGTH];
        int got = in.readNBytes(header, 0, HEADER_LENGTH);
        if (got == 0) {
            return null;
        }
        if (got < HEADER_LENGTH) {
            throw new EOFException("stream ended after " + got + " of " + HEADER_LENGTH + " header bytes");
        }
        ByteBuffer buffer = ByteBuffer.wrap(header);
        long length = Integer.toUnsignedLong(buffer.getInt());
        int streamId = buffer.getInt();
        int type = buffer.get() & 0xff;
        int flags = buffer.get() & 0xff;
        if (length > MAX_DATA_LENGTH) {
            throw new OversizeFrameException(streamId, length);
        }
        byte[] data = in.readNBytes((int) length);
        if (data.length < length) {
            throw new EOFException("stream ended after " + data.length + " of " + length + " data bytes of stream "
                    + Integer.toUnsignedString(streamId));
        }
        return new Frame(streamId, type, flags, data);
    }

    /** A header announced more data than ttrpc allows; the stream is no longer at a frame boundary. */
    public static final class OversizeFrameException extends IOException {

        private final int streamId;
        private final long length;

        public OversizeFrameException(int streamId, long length) {
            super("message length " + length + " exceed maximum message size of " + MAX_DATA_LENGTH);
            this.streamId = streamId;
            this.length = length;
        }

        public int streamId() {
            return streamId;
        }

        public long length() {
            return length;
        }
    }
}
