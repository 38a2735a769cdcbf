package io.javakata.ttrpc;

import java.util.Objects;

/**
 * One ttrpc frame (containerd/ttrpc {@code PROTOCOL.md}, {@code channel.go}; on the wire a 10-byte header of data
 * length, stream id, type and flags): a stream id, a message type, flags, and up to
 * {@link FrameCodec#MAX_DATA_LENGTH} bytes of data. The stream id is an unsigned 32-bit value held in an int.
 * The data array is not copied; do not change it after building the frame.
 */
public record Frame(int streamId, int type, int flags, byte[] data) {

    /** A request: a marshalled {@code ttrpc.Request}. */
    public static final int TYPE_REQUEST = 1;
    /** A response: a marshalled {@code ttrpc.Response}. */
    public static final int TYPE_RESPONSE = 2;
    /** Stream data (ttrpc 1.2); javakata neither sends nor answers it. */
    public static final int TYPE_DATA = 3;

    public Frame {
        Objects.requireNonNull(data, "data");
        if (type < 0 || type > 0xff) {
            throw new IllegalArgumentException("type=" + type + ": must fit in one unsigned byte");
        }
        if (flags < 0 || flags > 0xff) {
            throw new IllegalArgumentException("flags=" + flags + ": must fit in one unsigned byte");
        }
        if (data.length > FrameCodec.MAX_DATA_LENGTH) {
            throw new IllegalArgumentException("data length " + data.length + ": must be at most "
                    + FrameCodec.MAX_DATA_LENGTH);
        }
    }

    /** Whether a client opened this stream: clients use odd ids (containerd/ttrpc PROTOCOL.md, "Stream IDs"). */
    public boolean clientInitiated() {
        return (streamId & 1) == 1;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Frame f && f.streamId == streamId && f.type == type && f.flags == flags
                && java.util.Arrays.equals(f.data, data);
    }

    @Override
    public int hashCode() {
        return Objects.hash(streamId, type, flags, java.util.Arrays.hashCode(data));
    }

    @Override
    public String toString() {
        return "Frame[stream=" + Integer.toUnsignedString(streamId) + " type=" + type + " flags=" + flags
                + " length=" + data.length + "]";
    }
}
