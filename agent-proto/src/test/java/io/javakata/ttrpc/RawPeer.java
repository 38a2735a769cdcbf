package io.javakata.ttrpc;

import com.google.protobuf.Message;
import io.javakata.ttrpc.proto.Request;
import io.javakata.ttrpc.proto.Response;
import io.javakata.ttrpc.transport.Connection;
import io.javakata.ttrpc.transport.UnixConnection;

import java.io.IOException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

/** The far end of a connection, driven frame by frame: a raw client against a server, or a fake server. */
final class RawPeer implements AutoCloseable {

    final Connection connection;

    RawPeer(Connection connection) {
        this.connection = connection;
    }

    void sendFrame(Frame frame) throws IOException {
        FrameCodec.write(connection.output(), frame);
    }

    void send(int streamId, Request request) throws IOException {
        sendFrame(new Frame(streamId, Frame.TYPE_REQUEST, 0, request.toByteArray()));
    }

    void reply(int streamId, Message payload) throws IOException {
        sendFrame(new Frame(streamId, Frame.TYPE_RESPONSE, 0,
                Response.newBuilder().setPayload(payload.toByteString()).build().toByteArray()));
    }

    Frame next() throws IOException {
        Frame frame = FrameCodec.read(connection.input());
        assertNotNull(frame, "expected a frame, got end of stream");
        return frame;
    }

    Response response(int streamId) throws IOException {
        Frame frame = next();
        assertEquals(streamId, frame.streamId());
        assertEquals(Frame.TYPE_RESPONSE, frame.type());
        return Response.parseFrom(frame.data());
    }

    /** The peer closed: end of stream, or a reset (a Unix peer that closed with our bytes unread). */
    void assertClosed() {
        try {
            assertNull(FrameCodec.read(connection.input()), "expected the peer to close");
        } catch (IOException reset) {
            // Also a close, seen from this side.
        }
    }

    /** Stops our sending direction, so the peer sees end of stream mid-frame. */
    void halfClose() throws IOException {
        if (connection instanceof UnixConnection unix) {
            unix.channel().shutdownOutput();
        } else {
            connection.output().close();
        }
    }

    @Override
    public void close() throws IOException {
        connection.close();
    }
}
